"""Which delivered answers are shadowed: the task type's rate, while its monthly shadow budget lasts.

Called once a request's answer has been delivered (``after_delivery``). A sampled request gets a
``ShadowComparison`` row and a shadow job that starts ``SHADOW_DELAY_SECONDS`` later, so the baseline
call never competes with the answer on its way to the workflow.

The budget check counts the month's finished shadow and judge spend plus an estimate for every
comparison still queued (its answer's tokens on the baseline model, at the batch price), under a
short Redis lock per task type: concurrent samples cannot overshoot the budget by more than one
comparison's estimate error.
"""
from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Callable

from flask import Flask
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from app.policy import Policy
from app.pricing import Usage
from app.comparators.base import choose
from app.store import Attempt, Request, ShadowComparison
from app.store.shadow import QUEUED

log = logging.getLogger(__name__)

RUN_JOB = "workers.shadow.run_shadow_job"
LIST_JOB = "workers.shadow.run_list_shadow_job"
# The shadow job starts this long after delivery: a waiting web request has read its answer by then.
SHADOW_DELAY_SECONDS = 2
JOB_TIMEOUT_SECONDS = 10 * 60
RESULT_TTL_SECONDS = 24 * 3600
BUDGET_LOCK_KEY = "tiergate:shadow:budget:{}"
BUDGET_LOCK_SECONDS = 10
DELIVERED = ("done", "needs_review")
# The judge call's own size, for the budget estimate: the rubric and framing in, a one-sentence verdict out.
JUDGE_PROMPT_TOKENS = 300
JUDGE_VERDICT_TOKENS = 60


def month_of(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m")


def spent_this_month(session: Session, task_type: str, month: str) -> Decimal:
    """Shadow and judge spend of ``task_type`` in ``month``, queued comparisons at their estimate."""
    queued = ShadowComparison.status == QUEUED
    amount = session.scalar(select(func.coalesce(func.sum(case(
        (queued, ShadowComparison.estimated_cost_usd),
        else_=ShadowComparison.shadow_cost_usd + ShadowComparison.judge_cost_usd)), 0))
        .where(ShadowComparison.task_type == task_type, ShadowComparison.month == month))
    return Decimal(str(amount or 0))


def estimate(policy: Policy, usage: Usage, comparator: str, batch: bool = True) -> Decimal:
    """What the comparison will cost: the answer's tokens on the baseline model (no cache), plus for
    the judge its rubric, the input and both answers in, a short verdict out, at the full price."""
    flat = Usage(input_tokens=usage.total_input_tokens, output_tokens=usage.output_tokens)
    amount = policy.prices.cost(policy.baseline_model, flat, batch=batch)
    if comparator == "judge":  # the judge sees the request's own text, not the task's cached prompt
        judged = Usage(input_tokens=usage.input_tokens + 2 * usage.output_tokens + JUDGE_PROMPT_TOKENS,
                       output_tokens=JUDGE_VERDICT_TOKENS)
        amount += policy.prices.cost(policy.shadow_judge.model or policy.baseline_model, judged)
    return amount


def shadowed(policy: Policy, task_type: str) -> bool:
    """Does the policy shadow this task type at all? Checked before anything else, so requests of
    types that are not shadowed (the default) cost nothing here."""
    task = policy.task_types.get(task_type)
    spec = task.shadow if task is not None else None
    return spec is not None and spec.enabled and spec.rate > 0


def after_delivery(app: Flask, request_id: str, *, draw: Callable[[], float] = random.random) -> str | None:
    """Sample a delivered request for a shadow comparison; returns the comparison id when sampled.

    A ``/v1/classify`` list is sampled row by row in a job of its own (``sample_list``; its job id is
    returned), because a short list finishes inside the web request and must not wait for the draw.
    The answer is already with the workflow, so nothing here may fail the request's job: an error is
    logged and the request simply goes unshadowed.
    """
    try:
        with app.extensions["store"].session() as session:
            row = session.get(Request, request_id)
            kind = row.kind if row is not None else None
        if kind == "classify":
            job = app.extensions["job_queue"].queue.enqueue_in(
                timedelta(seconds=SHADOW_DELAY_SECONDS), LIST_JOB, request_id, job_timeout=JOB_TIMEOUT_SECONDS,
                result_ttl=RESULT_TTL_SECONDS)
            return job.id
        return _sample(app, request_id, draw)
    except Exception:  # noqa: BLE001  (the job's work is done; a missed shadow sample is not a failure)
        log.exception("shadow sampling of %s failed; the request is not shadowed", request_id)
        return None


def sample_list(app: Flask, request_id: str, *, draw: Callable[[], float] = random.random) -> list[str]:
    """The comparisons of a classify list's rows drawn at the type's rate, while the budget lasts."""
    policy = app.extensions["routing"].policy
    store = app.extensions["store"]
    with store.session() as session:
        row = session.get(Request, request_id)
        task = policy.task_types.get(row.task_type)
        spec = task.shadow if task is not None else None
        results = (row.result or {}).get("results") or []
        if spec is None or not spec.enabled or spec.rate <= 0 or row.status not in DELIVERED or not results:
            return []
        answered = [index for index, item in enumerate(results) if item.get("label") not in (None, "unknown")
                    and item.get("model") and item.get("model") != policy.baseline_model and not item.get("dry_run")]
        drawn = [index for index in answered if draw() < spec.rate]
        if not drawn:
            return []
        # Per row: the list's first-try tokens shared out over its rows.
        first = session.scalars(select(Attempt).where(Attempt.request_id == request_id, Attempt.purpose == "answer",
                                                      Attempt.tier == row.tier)).all()
        share = max(1, len(results))
        usage = Usage(*(sum(getattr(a, name) for a in first) // share for name in
                        ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")))
        comparator = choose(task)
        each = estimate(policy, usage, comparator)
        base = dict(request_id=request_id, api_key_id=row.api_key_id, task_type=row.task_type, comparator=comparator,
                    answer_tier=row.tier, baseline_model=policy.baseline_model, estimated_cost_usd=each)
        models = {index: results[index]["model"] for index in drawn}
    ids = []
    with app.extensions["job_queue"].redis.lock(BUDGET_LOCK_KEY.format(base["task_type"]), timeout=BUDGET_LOCK_SECONDS,
                                                blocking_timeout=BUDGET_LOCK_SECONDS):
        with store.session() as session:
            month = month_of(datetime.now(timezone.utc))
            spent = spent_this_month(session, base["task_type"], month)
            for index in drawn:
                if spent + each > spec.monthly_budget_usd:
                    log.info("shadow budget of %s for %s spent: %d rows of %s not shadowed", base["task_type"],
                             month, len(drawn) - len(ids), request_id)
                    break
                comparison = ShadowComparison(month=month, status=QUEUED, item_index=index,
                                              answer_model=models[index], **base)
                session.add(comparison)
                session.flush()
                ids.append(comparison.id)
                spent += each
    return ids


def _sample(app: Flask, request_id: str, draw: Callable[[], float]) -> str | None:
    policy = app.extensions["routing"].policy
    store = app.extensions["store"]
    with store.session() as session:
        row = session.get(Request, request_id)
        if row is None:
            return None
        task = policy.task_types.get(row.task_type)
        spec = task.shadow if task is not None else None
        answer = row.result or {}
        if (spec is None or not spec.enabled or spec.rate <= 0 or row.status not in DELIVERED or row.dry_run
                or answer.get("output") is None or not row.model or row.model == policy.baseline_model):
            return None
        if draw() >= spec.rate:
            return None
        kept = session.scalars(select(Attempt).where(Attempt.request_id == request_id, Attempt.purpose == "answer")
                               .order_by(Attempt.seq.desc())).first()
        usage = Usage(kept.input_tokens, kept.output_tokens, kept.cache_write_tokens, kept.cache_read_tokens) \
            if kept else Usage()
        comparator = choose(task)
        values = dict(request_id=request_id, api_key_id=row.api_key_id, task_type=row.task_type,
                      comparator=comparator, answer_tier=row.tier, answer_model=row.model,
                      baseline_model=policy.baseline_model, estimated_cost_usd=estimate(policy, usage, comparator))
    redis = app.extensions["job_queue"].redis
    with redis.lock(BUDGET_LOCK_KEY.format(values["task_type"]), timeout=BUDGET_LOCK_SECONDS,
                    blocking_timeout=BUDGET_LOCK_SECONDS):
        with store.session() as session:
            month = month_of(datetime.now(timezone.utc))
            spent = spent_this_month(session, values["task_type"], month)
            if spent + values["estimated_cost_usd"] > spec.monthly_budget_usd:
                log.info("shadow budget of %s for %s spent ($%s of $%s): %s not shadowed", values["task_type"],
                         month, spent, spec.monthly_budget_usd, request_id)
                return None
            comparison = ShadowComparison(month=month, status=QUEUED, **values)
            session.add(comparison)
            session.flush()
            comparison_id = comparison.id
    app.extensions["job_queue"].queue.enqueue_in(
        timedelta(seconds=SHADOW_DELAY_SECONDS), RUN_JOB, comparison_id, job_id=comparison_id,
        job_timeout=JOB_TIMEOUT_SECONDS, result_ttl=RESULT_TTL_SECONDS)
    return comparison_id
