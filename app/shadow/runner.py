"""The shadow job: the baseline model's answer to a delivered request, the comparison, the ledger rows.

Steps (RQ jobs in ``workers.shadow``):

1. ``run`` (job id = the comparison id): checks the task type's monthly shadow budget again, builds
   the same call the cascade made on its first try (the task's cached prompt, the caller's labels and
   schema, no hints) for the baseline model, and sends it through the provider's Message Batches API
   at the batch price. A provider without batches (dry run, an OpenAI-compatible endpoint) gets a
   normal call instead. ``run_list`` does the same for the rows drawn from a ``/v1/classify`` list:
   one batch, one request per row (the list's own prompt with that row alone).
2. ``poll``: collects the batch once it has ended (looked at once right after submitting, then every
   ``SHADOW_POLL_SECONDS``), then ``finish`` for each comparison.
3. ``finish``: compares (a judge call for free text, synchronous and at the normal price), writes a
   ledger request of kind ``shadow`` with one attempt per call (purposes ``shadow`` and ``judge``) and
   the verdict on the comparison row.

The delivered answer is never touched: only the comparison row and the shadow ledger row are written.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from app.cascade import prompts
from app.errors import ProviderError
from app.gates.checks import parse_json
from app.policy import Policy
from app.calls import AttemptRecord, Guards
from app.money.budgets import request_spend
from app.providers import AnthropicProvider, ModelCall, ModelReply, Provider
from app.comparators.base import Case, Verdict, build
from app.shadow.sampling import JOB_TIMEOUT_SECONDS, RESULT_TTL_SECONDS, spent_this_month
from app.store import Attempt, Request, ShadowComparison, utcnow
from app.store.shadow import FAILED, JUDGE_PURPOSE, QUEUED, SHADOW_KIND, SHADOW_PURPOSE

if TYPE_CHECKING:
    from app.execution.runtime import Runtime

log = logging.getLogger(__name__)

POLL_JOB = "workers.shadow.poll_shadow_job"
SHADOW_POLL_SECONDS = 60
# Anthropic expires a batch that has not ended after 24 hours; stop polling a little later.
BATCH_MAX_AGE_SECONDS = 26 * 3600
SKIPPED = "skipped"
DEFAULT_MAX_TOKENS = 1024


@dataclass
class _Call:
    """A finished model call of the shadow job, as it goes into the ledger."""

    purpose: str
    tier: str
    model: str
    provider: str
    reply: ModelReply | None
    error: str | None
    batch: bool
    cost: Decimal


def run(rt: Runtime, comparison_id: str) -> str:
    """Send the baseline call of a queued comparison (once); returns what happened."""
    policy = rt.policy()
    store = rt.store
    with store.session() as session:
        row = session.get(ShadowComparison, comparison_id)
        if row is None or row.status != QUEUED:
            return row.status if row else "missing"
        if row.batch_id:
            return "submitted"  # a repeated job must not pay twice; the poll collects it
        task = policy.task_types.get(row.task_type)
        spec = task.shadow if task else None
        # The month's spend includes this comparison's own estimate, recorded when it was sampled.
        over = spec is not None and spent_this_month(session, row.task_type, row.month) > spec.monthly_budget_usd
        if spec is None or not spec.enabled or over:
            row.status, row.finished_at = SKIPPED, utcnow()
            row.reason = "shadowing is off for this task type" if spec is None or not spec.enabled else \
                f"the monthly shadow budget (${spec.monthly_budget_usd}) is spent"
            return SKIPPED
        payload, request_id = dict(session.get(Request, row.request_id).payload), row.request_id
    provider, tier = baseline_provider(rt, policy)
    return _send(rt, policy, request_id, [(comparison_id, baseline_call(policy, payload, tier))])


def run_list(rt: Runtime, request_id: str) -> str:
    """Draw a classify list's rows and send their baseline calls as one batch (one request per row)."""
    from app.shadow.sampling import sample_list

    ids = sample_list(rt, request_id)
    if not ids:
        return "not sampled"
    policy = rt.policy()
    with rt.store.session() as session:
        payload = dict(session.get(Request, request_id).payload)
        indexes = {row.id: row.item_index for row in
                   session.scalars(select(ShadowComparison).where(ShadowComparison.id.in_(ids)))}
    _provider, tier = baseline_provider(rt, policy)
    return _send(rt, policy, request_id,
                 [(cid, list_item_call(policy, payload, indexes[cid], tier)) for cid in ids])


def _send(rt: Runtime, policy: Policy, request_id: str, calls: list[tuple[str, ModelCall]]) -> str:
    """One batch for all ``calls`` (custom id = comparison id); normal calls where batches don't exist.
    Each call first holds its upper bound on the budgets of the request it shadows (``_guards``); a call
    with no room is not sent, its comparison fails saying so."""
    provider, tier = baseline_provider(rt, policy)
    guards = _guards(rt, policy, request_id)
    if not isinstance(provider, AnthropicProvider):
        return ", ".join(finish(rt, cid, _complete(guards, provider, call, SHADOW_PURPOSE, tier)) for cid, call in calls)
    verdicts, requests = [], []
    for cid, call in calls:
        refused = guards.hold_batch(call)
        if refused:
            verdicts.append(finish(rt, cid, _Call(SHADOW_PURPOSE, tier, call.model, provider.name, None, refused, True,
                                                  Decimal(0))))
        else:
            requests.append({"custom_id": cid, "params": {"model": call.model, "max_tokens": call.max_tokens,
                                                          "messages": call.messages, **provider.request_prefix(call)}})
    if not requests:
        return ", ".join(verdicts)
    try:
        batch = provider.client.messages.batches.create(requests=requests)
    except provider._sdk.APIError as exc:  # recorded as failed comparisons, which frees their budget estimates
        guards.spend.release()
        error = f"the shadow batch could not be submitted: {exc}"
        return ", ".join(verdicts + [finish(rt, request["custom_id"], _Call(
            SHADOW_PURPOSE, tier, request["params"]["model"], provider.name, None, error, True, Decimal(0)))
            for request in requests])
    ids = [request["custom_id"] for request in requests]
    with rt.store.session() as session:
        for row in session.scalars(select(ShadowComparison).where(ShadowComparison.id.in_(ids))):
            row.batch, row.batch_id = True, batch.id
    return poll(rt, ids, submitted=time.time())


def poll(rt: Runtime, comparison_ids: list[str], *, submitted: float | None = None) -> str:
    """Collect the comparisons' batch if it has ended, else look again in ``SHADOW_POLL_SECONDS``."""
    policy = rt.policy()
    with rt.store.session() as session:
        rows = session.scalars(select(ShadowComparison).where(ShadowComparison.id.in_(comparison_ids),
                                                              ShadowComparison.status == QUEUED)).all()
        if not rows:
            return "finished"
        open_ids, batch_id, created = [row.id for row in rows], rows[0].batch_id, rows[0].created_at
        request_id = rows[0].request_id  # a batch shadows one request (one task, or rows of one list)
    provider, tier = baseline_provider(rt, policy)
    try:
        batch = provider.client.messages.batches.retrieve(batch_id)
        ended = batch.processing_status == "ended"
        entries = {entry.custom_id: entry.result for entry in provider.client.messages.batches.results(batch_id)} \
            if ended else {}
    except provider._sdk.APIError as exc:  # the provider is unreachable for now: look again later
        log.warning("shadow batch %s: %s; polling again", batch_id, exc)
        ended = False
    if not ended:
        if time.time() - (submitted or created.timestamp()) > BATCH_MAX_AGE_SECONDS:
            return ", ".join(finish(rt, cid, _Call(SHADOW_PURPOSE, tier, policy.baseline_model, provider.name, None,
                                                    f"batch {batch_id} did not end in time", True, Decimal(0)))
                             for cid in open_ids)
        rt.job_queue.queue.enqueue_in(timedelta(seconds=SHADOW_POLL_SECONDS), POLL_JOB, open_ids,
                                                     job_timeout=JOB_TIMEOUT_SECONDS, result_ttl=RESULT_TTL_SECONDS)
        return "waiting"
    from app.classify.batches import _reply as batch_entry_reply  # one reading of a batch entry for both paths

    verdicts = []
    guards = _guards(rt, policy, request_id)
    for cid in open_ids:
        reply, error = batch_entry_reply(entries.get(cid), policy.baseline_model)
        record = AttemptRecord(tier=tier, model=policy.baseline_model, provider=provider.name, purpose=SHADOW_PURPOSE)
        if reply is not None:
            guards.book_batch(record, reply)
        verdicts.append(finish(rt, cid, _Call(SHADOW_PURPOSE, tier, record.model, provider.name, reply, error, True,
                                               record.cost_usd)))
    guards.spend.release()  # the batch has settled: what its submission held is free again
    return ", ".join(verdicts)


def finish(rt: Runtime, comparison_id: str, shadow: _Call) -> str:
    """Compare the two answers, write the ledger rows and the verdict; returns the verdict's status."""
    policy = rt.policy()
    store = rt.store
    with store.session() as session:
        row = session.get(ShadowComparison, comparison_id)
        if row.status != QUEUED:
            return row.status  # finished before (a repeated poll): never a second ledger row
        request = session.get(Request, row.request_id)
        payload, result = dict(request.payload), request.result or {}
        text, answer = subject(payload, result, row.item_index)
        api_key_id, workflow, comparator_name = request.api_key_id, request.workflow, row.comparator
        task = policy.task_types.get(row.task_type)
        ignore = list(task.shadow.ignore_fields) if task and task.shadow else []
        answer_model, task_type, request_id, item_index = row.answer_model, row.task_type, row.request_id, \
            row.item_index
    calls = [shadow]
    judge_model = None
    baseline_text = None if shadow.reply is None else \
        shadow.reply.text if item_index is None else first_item(shadow.reply.text)
    if shadow.reply is None:
        verdict = Verdict(FAILED, f"the baseline call failed: {shadow.error}")
    else:
        judge_model = policy.shadow_judge.model or policy.baseline_model

        def ask(system: str, user: str) -> str:
            provider, tier = judge_provider(rt, policy, judge_model)
            call = ModelCall(model=judge_model, messages=[{"role": "user", "content": user}], cached_system=system,
                             max_tokens=policy.shadow_judge.max_output_tokens, json_output=True, tier=tier,
                             purpose=JUDGE_PURPOSE)
            done = _complete(_guards(rt, policy, request_id), provider, call, JUDGE_PURPOSE, tier)
            calls.append(done)
            if done.reply is None:
                raise ProviderError(done.error or "no answer")
            return done.reply.text

        case = Case(task_type=task_type, input_text=text, answer=answer,
                    baseline_text=baseline_text, answer_model=answer_model, baseline_model=shadow.model,
                    ignore_fields=ignore, ask=ask)
        verdict = build(comparator_name, rubric=policy.shadow_judge.rubric).compare(case)
    shadow_cost = shadow.cost
    judge_cost = sum((call.cost for call in calls if call.purpose == JUDGE_PURPOSE), Decimal(0))
    with store.session() as session:
        ledger = Request(kind=SHADOW_KIND, task_type=task_type, tier=None, model=shadow.model, status="done",
                         exec_mode=SHADOW_KIND, api_key_id=api_key_id, workflow=workflow,
                         payload={"shadow_of": request_id, "comparison_id": comparison_id},
                         result={"comparison_id": comparison_id, "status": verdict.status}, batch=shadow.batch,
                         cost_usd=shadow_cost + judge_cost, baseline_cost_usd=Decimal(0), progress_done=1,
                         progress_total=1, finished_at=utcnow())
        for seq, call in enumerate(calls, start=1):
            ledger.attempts.append(_attempt(seq, call))
        session.add(ledger)
        session.flush()
        row = session.get(ShadowComparison, comparison_id)
        row.status, row.reason, row.finished_at = verdict.status, verdict.reason, utcnow()
        row.baseline_text = baseline_text
        row.input_text, row.answer_text = text, _as_text(answer)
        row.shadow_cost_usd, row.judge_cost_usd, row.ledger_request_id = shadow_cost, judge_cost, ledger.id
        row.judge_model = judge_model if any(call.purpose == JUDGE_PURPOSE for call in calls) else None
    return verdict.status


# -- calls -------------------------------------------------------------------------------------

def _providers(rt: Runtime, policy: Policy) -> dict[str, Provider]:
    """This process's providers for this policy (rebuilt only when its tiers, providers or prices changed)."""
    return rt.providers(policy)


def _provider_for(rt: Runtime, policy: Policy, model: str) -> tuple[Provider, str]:
    """The provider of the tier that serves ``model`` (the top tier's when none does) and its name."""
    tier = next((name for name, spec in policy.tiers.items() if spec.model == model), policy.top_tier)
    return _providers(rt, policy)[tier], tier


def baseline_provider(rt: Runtime, policy: Policy) -> tuple[Provider, str]:
    return _provider_for(rt, policy, policy.baseline_model)


def judge_provider(rt: Runtime, policy: Policy, model: str) -> tuple[Provider, str]:
    return _provider_for(rt, policy, model)


def baseline_call(policy: Policy, payload: dict[str, Any], tier: str) -> ModelCall:
    """The cascade's first call of this request, addressed to the baseline model."""
    decision = payload.get("decision") or {}
    task = policy.task_types.get(decision.get("task_type", ""))
    snippets = ([payload["brand_rules"]] if payload.get("brand_rules") else []) + list(payload.get("knowledge") or [])
    prefix = prompts.cached_prefix(task.prompt if task else "", task.output_schema if task else None, snippets)
    system = prompts.request_system(payload.get("labels"), payload.get("output_schema"), [])
    json_output = bool(task and task.output_format == "json") or bool(payload.get("output_schema"))
    max_tokens = (task.max_output_tokens if task else None) or (
        policy.tiers[tier].max_output_tokens if tier in policy.tiers else DEFAULT_MAX_TOKENS)
    return ModelCall(model=policy.baseline_model, messages=prompts.input_messages(payload.get("text"),
                                                                                   payload.get("messages")),
                     cached_system=prefix, system=system, max_tokens=max_tokens, json_output=json_output, tier=tier,
                     purpose=SHADOW_PURPOSE)


def _guards(rt: Runtime, policy: Policy, request_id: str) -> Guards:
    """The guarded call for the shadow and judge calls of ``request_id``: they hold and book on the
    budgets of its API key and workflow (whose reports count them), as its own calls did."""
    return Guards(policy.prices, breaker=rt.breaker,
                  spend=request_spend(rt.store, request_id, rt.settings, admission_taken=True))


def _complete(guards: Guards, provider: Provider, call: ModelCall, purpose: str, tier: str) -> _Call:
    """One shadow or judge call through the guarded call (breaker, budget hold, attempt record, metrics)."""
    record = AttemptRecord(tier=tier, model=call.model, provider=provider.name, purpose=purpose)
    reply = guards.complete(provider, call, record)
    if reply is None:
        return _Call(purpose, tier, call.model, provider.name, None, record.reason, False, Decimal(0))
    return _Call(purpose, tier, record.model, record.provider, reply, None, False, record.cost_usd)


def _attempt(seq: int, call: _Call) -> Attempt:
    usage = call.reply.usage if call.reply else None
    return Attempt(seq=seq, purpose=call.purpose, tier=call.tier, model=call.model, provider=call.provider,
                   ok=call.reply is not None, gate=None if call.reply else "provider", reason=call.error,
                   input_tokens=usage.input_tokens if usage else 0, output_tokens=usage.output_tokens if usage else 0,
                   cache_read_tokens=usage.cache_read_tokens if usage else 0,
                   cache_write_tokens=usage.cache_write_tokens if usage else 0, batch=call.batch, cost_usd=call.cost,
                   baseline_cost_usd=Decimal(0), latency_ms=call.reply.latency_ms if call.reply else 0.0,
                   output_text=call.reply.text if call.reply else None)


def list_item_call(policy: Policy, payload: dict[str, Any], index: int, tier: str) -> ModelCall:
    """The classify call for one row of a list, as the list's first try sent it, for the baseline model."""
    from app.classify import prompt
    from app.classify.request import ClassifySpec

    spec = ClassifySpec.from_dict(payload["spec"])
    task = policy.task_types.get(spec.task_type) or policy.task_types.get("list_classification")
    prefix = prompt.cached_prefix(task.prompt if task else "", spec)
    return prompt.chunk_call(model=policy.baseline_model, tier=tier, prefix=prefix,
                             texts=[payload["items"][index]["text"]], purpose=SHADOW_PURPOSE)


def subject(payload: dict[str, Any], result: dict[str, Any], item_index: int | None) -> tuple[str, Any]:
    """The input and the delivered answer being compared: the request's, or one list row's label."""
    if item_index is None:
        return input_text(payload), result.get("output")
    row = (result.get("results") or [])[item_index]
    return str(payload["items"][item_index]["text"]), {"label": row.get("label")}


def first_item(text: str) -> str:
    """A one-row classify answer (a JSON array) as its single object, for the label comparator."""
    try:
        data = parse_json(text)
    except ValueError:
        return text
    return json.dumps(data[0], ensure_ascii=False) if isinstance(data, list) and data else text


def input_text(payload: dict[str, Any]) -> str:
    if payload.get("text"):
        return str(payload["text"])
    return "\n".join(f"{m.get('role')}: {m.get('content')}" for m in payload.get("messages") or [])


def _as_text(value: Any) -> str | None:
    return value if value is None or isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=2)
