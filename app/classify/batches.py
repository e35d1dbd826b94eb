"""Non-urgent lists through Anthropic's Message Batches API, at the batch discount (0.5x by default).

Three steps, each an RQ job (``workers.classify``):

1. ``submit``: every chunk not done yet becomes one request of a single batch (custom id
   ``"<start>-<end>"``, the same cached prefix as the synchronous path). The batch id is kept on the
   request row, and the first poll is scheduled.
2. ``poll``: asks the provider for the batch's status; until it has ended, schedules itself again
   (``BATCH_POLL_SECONDS``; the worker runs with RQ's scheduler).
3. When it has ended, every chunk's answer goes through the same gates as a synchronous answer; its
   attempt is recorded with ``batch`` set and priced at the batch discount. Retries and escalations of
   failing or unsure items run as normal (full-price) calls, so the list finishes in one step.

A provider without a batch API (the dry run, an OpenAI-compatible endpoint) runs the list the normal way.
"""
from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from app.money.budgets import request_spend
from app.classify import prompt, service
from app.classify.chunk import ClassifyPlan, classify_chunk
from app.classify.request import ClassifySpec
from app.errors import ProviderError
from app.providers.anthropic import AnthropicProvider, read_usage
from app.providers.base import ModelReply
from app.execution.runtime import Runtime
from app.store import ClassifyChunk, Request

log = logging.getLogger(__name__)

POLL_JOB = "workers.classify.poll_batch_job"
BATCH_POLL_SECONDS = 60
# Anthropic expires a batch that has not ended after 24 hours; stop polling a little later.
BATCH_MAX_AGE_SECONDS = 26 * 3600


def submit(rt: Runtime, request_id: str) -> str:
    """Send the list's open chunks as one batch; returns the batch id (or ``"direct"``)."""
    policy = rt.policy()
    store = rt.store
    with store.session() as session:
        row = session.get(Request, request_id)
        if row.result is not None:
            return "finished"
        if (row.payload.get("batch") or {}).get("id"):
            return row.payload["batch"]["id"]  # submitted before; a repeated job must not pay twice
        payload = dict(row.payload)
        chunks = _open_chunks(session, request_id, payload)
    plan = _plan(rt, payload, request_id)
    provider = plan.providers[plan.start_tier]
    if not isinstance(provider, AnthropicProvider):
        log.info("classify %s: %s has no batch API; running the list directly", request_id, provider.name)
        service.run(rt, request_id)
        return "direct"
    model = policy.model_for(plan.start_tier)
    requests = []
    for start, end in chunks:
        call = prompt.chunk_call(model=model, tier=plan.start_tier, prefix=plan.prefix,
                                 texts=[item["text"] for item in payload["items"][start:end]], purpose="answer")
        refused = plan.guards.hold_batch(call)
        if refused:  # this chunk and the rest stay out of the batch: collected as failed, retried under the budget
            log.info("classify %s: %s", request_id, refused)
            break
        params = {"model": call.model, "max_tokens": call.max_tokens, "messages": call.messages,
                  **provider.request_prefix(call)}
        requests.append({"custom_id": f"{start}-{end}", "params": params})
    if not requests:  # no room for even one chunk: the normal path refuses each call and frees the hold
        service.run(rt, request_id)
        return "direct"
    try:
        batch = provider.client.messages.batches.create(requests=requests)
    except provider._sdk.APIError as exc:
        plan.spend.release()  # nothing was submitted: the list's holds go (a retry of the job holds again)
        raise ProviderError(f"{model}: the batch could not be submitted: {exc}", retryable=True) from None
    with store.session() as session:
        row = session.get(Request, request_id)
        # The provider holds the list now and scheduled polls collect it: no lease for the sweeper to watch.
        row.status, row.owner, row.lease_until = "running", "batch", None
        row.payload = {**row.payload, "batch": {"id": batch.id, "submitted": time.time(),
                                                "chunks": [list(bounds) for bounds in chunks]}}
    _schedule_poll(rt, request_id)
    return batch.id


def poll(rt: Runtime, request_id: str, *, progress: service.Progress | None = None) -> str:
    """Collect the batch if it has ended (then finish the list), else look again later."""
    store = rt.store
    with store.session() as session:
        row = session.get(Request, request_id)
        if row.result is not None:
            return "finished"
        payload = dict(row.payload)
        open_chunks = _open_chunks(session, request_id, payload)
    plan = _plan(rt, payload, request_id, collecting=True)
    provider = plan.providers[plan.start_tier]
    batch_id = payload["batch"]["id"]
    batch = provider.client.messages.batches.retrieve(batch_id)
    if batch.processing_status != "ended":
        if time.time() - payload["batch"]["submitted"] > BATCH_MAX_AGE_SECONDS:
            raise ProviderError(f"batch {batch_id} has not ended after {BATCH_MAX_AGE_SECONDS // 3600} h")
        _schedule_poll(rt, request_id)
        return "waiting"
    answers: dict[str, Any] = {entry.custom_id: entry.result for entry in provider.client.messages.batches.results(batch_id)}
    items = payload["items"]
    total = len(items)
    done = total - sum(end - start for start, end in open_chunks)
    for start, end in (tuple(bounds) for bounds in payload["batch"]["chunks"]):
        if (start, end) not in open_chunks:
            continue  # collected by an earlier poll that stopped half-way
        result = answers.get(f"{start}-{end}")
        reply, error = _reply(result, plan.policy.model_for(plan.start_tier))
        outcome = classify_chunk(plan, [item["text"] for item in items[start:end]], batch_reply=reply,
                                 batch_error=error)
        service.save_chunk(rt, request_id, (start, end), outcome)
        done += end - start
        if progress:
            progress(done, total)
    service.finish(rt, request_id)
    plan.spend.release()  # the batch has settled: what its submission held is free again
    return "collected"


def _plan(rt: Runtime, payload: dict[str, Any], request_id: str, *, collecting: bool = False) -> ClassifyPlan:
    policy = rt.policy()
    # The batch's holds, its answers and any follow-up calls count on the request's budgets; when
    # collecting, what the request holds is the batch's, not an admission a first call takes over.
    spend = request_spend(rt.store, request_id, rt.settings, admission_taken=collecting)
    return ClassifyPlan(policy, ClassifySpec.from_dict(payload["spec"]), rt.providers(policy), rt.breaker, spend=spend)


def _open_chunks(session, request_id: str, payload: dict[str, Any]) -> list[tuple[int, int]]:
    size, total = int(payload.get("chunk_size") or 50), len(payload["items"])
    done = set(session.scalars(select(ClassifyChunk.start).where(ClassifyChunk.request_id == request_id)))
    return [(start, min(start + size, total)) for start in range(0, total, size) if start not in done]


def _reply(result: Any, model: str) -> tuple[ModelReply | None, str | None]:
    """One batch entry as the provider's reply, or the reason it has none."""
    if result is None:
        return None, "no result for this chunk"
    if result.type != "succeeded":
        error = getattr(getattr(result, "error", None), "error", None)
        return None, f"{result.type}: {getattr(error, 'message', None) or result.type}"
    message, usage = result.message, result.message.usage
    text = "".join(block.text for block in message.content if getattr(block, "type", "") == "text")
    return ModelReply(text=text, latency_ms=0.0, model=message.model or model, stop_reason=message.stop_reason,
                      usage=read_usage(usage)), None


def _schedule_poll(rt: Runtime, request_id: str) -> None:
    rt.job_queue.queue.enqueue_in(timedelta(seconds=BATCH_POLL_SECONDS), POLL_JOB, request_id,
                                                 retry=service.JOB_RETRY, job_timeout=service.JOB_TIMEOUT_SECONDS,
                                                 result_ttl=service.RESULT_TTL_SECONDS)
