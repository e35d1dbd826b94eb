"""Run a stored fallback request through the cascade and write the ledger: request, attempts, review.

Every request is stored before it is queued, and runs as an RQ job whose id is the request id, so
the web process and the workers share one record. Who delivers the answer is settled once in Redis
with ``SET NX``: the waiting web request ("response") or the callback ("callback"), never both, so a
Wait node in n8n resumes exactly once.
"""
from __future__ import annotations

import time
from decimal import Decimal
from typing import Any, Callable

from flask import Flask
from rq import Retry

from app.budgets import budgets_for
from app.cascade import CascadeInput, CascadeResult, run_cascade
from app.errors import NotFound
from app.overhead import as_rerun, with_overhead, workflow_of
from app.policy import Policy, TaskType
from app.policy.schema import GateSpec
from app.providers import Cooldown, Provider, build_tier_providers
from app.store import Attempt, Request, Review, utcnow

JOB = "workers.fallback.run_fallback_job"
JOB_TIMEOUT_SECONDS = 15 * 60
# The first retry is immediate: it is usually a job abandoned by a killed worker, and the scheduler that
# would run a delayed retry may have died with that worker (its lock outlives it by minutes).
JOB_RETRY = Retry(max=2, interval=[0, 60])
RESULT_TTL_SECONDS = 24 * 3600
DONE_KEY = "tiergate:fallback:done:{}"
DELIVERY_KEY = "tiergate:fallback:delivery:{}"
SIGNAL_TTL_SECONDS = 24 * 3600
WAIT_SLICE_SECONDS = 1.0
TERMINAL = ("done", "needs_review", "failed")
GENERIC_TASK = TaskType(tier="tier2", gates=[GateSpec(name="non_empty")])

Progress = Callable[[int, int], None]


def providers_for(app: Flask, policy: Policy) -> dict[str, Provider]:
    """This process's providers per tier (built at start by ``app.providers.init_app``), rebuilt only
    when the policy's tiers, providers or prices change; shared with /v1/classify."""
    built_for = app.extensions.get("providers.policy")
    if "providers" not in app.extensions or built_for is None or _transport(built_for) != _transport(policy):
        app.extensions["providers"] = build_tier_providers(policy, app.config["TIERGATE"])
    app.extensions["providers.policy"] = policy
    return app.extensions["providers"]


def _transport(policy: Policy) -> tuple:
    return policy.tiers, policy.providers, policy.prices


def cooldown_for(app: Flask) -> Cooldown:
    return Cooldown.from_settings(app.extensions["job_queue"].redis, app.config["TIERGATE"])


def enqueue(app: Flask, request_id: str) -> None:
    app.extensions["job_queue"].enqueue(JOB, request_id, job_id=request_id, retry=JOB_RETRY,
                                        job_timeout=JOB_TIMEOUT_SECONDS, result_ttl=RESULT_TTL_SECONDS,
                                        failure_ttl=30 * 24 * 3600)


def claim_delivery(app: Flask, request_id: str, who: str) -> str:
    """Settle who delivers the answer; returns the winner ("response" or "callback")."""
    redis = app.extensions["job_queue"].redis
    key = DELIVERY_KEY.format(request_id)
    if redis.set(key, who, nx=True, ex=SIGNAL_TTL_SECONDS):
        return who
    held = redis.get(key)
    return held.decode() if isinstance(held, bytes) else (held or who)


def wait_for_answer(app: Flask, request_id: str, seconds: float) -> dict[str, Any] | None:
    """The answer if the job finishes within ``seconds``; else None, and the callback will carry it."""
    redis = app.extensions["job_queue"].redis
    deadline = time.monotonic() + seconds
    # Short blocking slices: a BLPOP longer than the client's socket timeout would fail, not wait.
    while (left := deadline - time.monotonic()) > 0:
        if redis.blpop([DONE_KEY.format(request_id)], timeout=min(left, WAIT_SLICE_SECONDS)):
            break
    if claim_delivery(app, request_id, "callback") == "callback":
        return None
    with app.extensions["store"].session() as session:
        return session.get(Request, request_id).result


# -- the job -------------------------------------------------------------------------------------

def run_request(app: Flask, request_id: str, *, progress: Progress | None = None) -> dict[str, Any]:
    """Run the cascade for a stored request (idempotent: an answered request is not run again)."""
    store = app.extensions["store"]
    with store.session() as session:
        row = session.get(Request, request_id)
        if row is None:
            raise NotFound(f"no request {request_id}", "job_id")
        if row.result is not None:
            return row.result
        row.status = "running"
        payload = dict(row.payload)
        spend = budgets_for(store).spend(request_id, api_key_id=row.api_key_id, workflow=row.workflow)
    if progress:
        progress(0, 1)
    try:
        result = execute(app, payload, spend=spend)
    finally:
        spend.release()
    answer = persist(app, request_id, result, payload)
    if progress:
        progress(1, 1)
    _deliver(app, request_id, answer, payload)
    return answer


def execute(app: Flask, payload: dict[str, Any], tier: str | None = None, spend=None) -> CascadeResult:
    """The cascade for a stored payload, on the decision's tier or ``tier``."""
    from app.routing_state import current_policy

    policy = current_policy()
    decision = payload["decision"]
    task = policy.task_types.get(decision["task_type"]) or GENERIC_TASK
    snippets = ([payload["brand_rules"]] if payload.get("brand_rules") else []) + list(payload.get("knowledge") or [])
    job = CascadeInput(
        task_type=decision["task_type"], task=task, tier=tier or decision["tier"], text=payload.get("text"),
        messages=payload.get("messages"), risk=payload.get("risk", "low"), external=bool(payload.get("external")),
        output_schema=payload.get("output_schema"),
        max_cost_usd=Decimal(str(payload["max_cost_usd"])) if payload.get("max_cost_usd") else None,
        labels=payload.get("labels"), snippets=snippets, review_reasons=list(decision.get("review_reasons") or []),
        confidence_threshold=payload.get("confidence_threshold"),
    )
    return run_cascade(policy, job, providers_for(app, policy), cooldown=cooldown_for(app), spend=spend)


def persist(app: Flask, request_id: str, result: CascadeResult, payload: dict[str, Any], *,
            create_review: bool = True) -> dict[str, Any]:
    """Write attempts, the request's totals and (for drafts) a pending review; returns the answer."""
    settings = app.config["TIERGATE"]
    answer = {"request_id": request_id, "job_id": request_id, **result.to_dict(),
              "decision_id": payload["decision"].get("id"), "metadata": payload.get("metadata") or {},
              "review_id": None, "review_url": None}
    answer = with_overhead(None, request_id, answer, payload.get("decision"))
    with app.extensions["store"].session() as session:
        row = session.get(Request, request_id)
        for seq, attempt in enumerate(result.attempts, start=1):
            row.attempts.append(Attempt(
                seq=seq, purpose=attempt.purpose, tier=attempt.tier, model=attempt.model, provider=attempt.provider,
                ok=attempt.ok, gate=attempt.gate, reason=attempt.reason, gate_results=attempt.gate_results,
                input_tokens=attempt.usage.input_tokens, output_tokens=attempt.usage.output_tokens,
                cache_read_tokens=attempt.usage.cache_read_tokens, cache_write_tokens=attempt.usage.cache_write_tokens,
                cache_write_1h_tokens=attempt.usage.cache_write_1h_tokens,
                cost_usd=attempt.cost_usd, baseline_cost_usd=attempt.baseline_cost_usd,
                latency_ms=attempt.latency_ms, output_text=attempt.output_text))
        if result.needs_review and create_review:
            review = Review(kind="draft", status="pending", request_id=request_id, task_type=result.task_type,
                            tier=result.tier, reasons=result.review_details, input_text=_input_text(payload),
                            draft=_as_text(result.output), callback_url=payload.get("callback_url"),
                            request_metadata=payload.get("metadata") or {})
            session.add(review)
            session.flush()
            base = (settings.public_url or "").rstrip("/")
            answer.update(review_id=review.id, review_url=f"{base}/review/{review.id}")
        row.status, row.tier, row.model = result.status, result.tier or row.tier, result.model
        row.escalated, row.needs_review, row.review_reasons = result.escalated, result.needs_review, result.review_reasons
        row.dry_run, row.cost_usd, row.baseline_cost_usd = result.dry_run, result.cost_usd, result.baseline_cost_usd
        row.latency_ms, row.finished_at, row.error = result.latency_ms, utcnow(), result.error
        row.progress_done, row.progress_total, row.result = 1, 1, answer
    return answer


def _deliver(app: Flask, request_id: str, answer: dict[str, Any], payload: dict[str, Any]) -> None:
    redis = app.extensions["job_queue"].redis
    if claim_delivery(app, request_id, "response") == "callback" and payload.get("callback_url"):
        from app.callbacks import enqueue_callback

        enqueue_callback(payload["callback_url"], {**answer, "event": "job.finished"})
    done = DONE_KEY.format(request_id)
    redis.rpush(done, "1")
    redis.expire(done, 60)


def mark_failed(app: Flask, request_id: str, exc: BaseException, *, final: bool) -> None:
    """Record a job error on the row: back to ``queued`` while RQ will retry, else a final ``failed``.

    A final failure is answered like any other outcome (status ``failed`` with the error), so a waiting
    sync request wakes up and a workflow waiting on ``callback_url`` resumes instead of hanging forever.
    """
    error = f"{type(exc).__name__}: {exc}"[:2000]
    with app.extensions["store"].session() as session:
        row = session.get(Request, request_id)
        if row is None or row.result is not None:
            return
        row.status, row.error = ("failed" if final else "queued"), error
        payload = dict(row.payload)
        spend = budgets_for(app.extensions["store"]).spend(request_id, api_key_id=row.api_key_id, workflow=row.workflow)
    if not final:
        return
    spend.release()
    decision = payload.get("decision") or {}
    failed = CascadeResult(task_type=decision.get("task_type", "unknown"), status="failed", output=None, tier=None,
                           model=None, start_tier=decision.get("tier", ""), escalated=False, needs_review=False,
                           review_reasons=[], attempts=[], error=f"the job failed after its retries: {error}")
    answer = persist(app, request_id, failed, payload, create_review=False)
    _deliver(app, request_id, answer, payload)


def rerun_at_tier(app: Flask, payload: dict[str, Any], tier: str, *, api_key_id: int | None = None,
                  parent_request_id: str | None = None) -> dict[str, Any]:
    """A reviewer's re-run: a ledger row of kind ``rerun``, overhead of the original request
    (``app.overhead``), for the same payload on ``tier`` (no new review row)."""
    payload = {**payload, "decision": {key: value for key, value in {**payload["decision"], "tier": tier}.items()
                                       if not key.startswith("router_")}}
    workflow = workflow_of(payload.get("metadata"))
    with app.extensions["store"].session() as session:
        row = Request(kind="rerun", task_type=payload["decision"]["task_type"], tier=tier, status="running",
                      exec_mode="rerun", payload=payload, api_key_id=api_key_id, progress_total=1,
                      request_metadata=payload.get("metadata") or {}, workflow=workflow,
                      parent_request_id=parent_request_id)
        session.add(row)
        session.flush()
        request_id = row.id
    spend = budgets_for(app.extensions["store"]).spend(request_id, api_key_id=api_key_id, workflow=workflow)
    try:
        result = as_rerun(execute(app, payload, tier, spend=spend))
    finally:
        spend.release()
    return persist(app, request_id, result, payload, create_review=False)


def _input_text(payload: dict[str, Any]) -> str:
    if payload.get("text"):
        return payload["text"]
    return "\n".join(f"{m['role']}: {m['content']}" for m in payload.get("messages") or [])


def _as_text(output: Any) -> str | None:
    import json

    return output if output is None or isinstance(output, str) else json.dumps(output, ensure_ascii=False, indent=2)
