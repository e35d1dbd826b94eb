"""A classify request from start to finish: the ledger row, the chunks, progress, review and callback.

The ``requests`` row is the job's state. Its payload holds the normalised items and labels; each chunk's
answers go into a ``classify_chunks`` row as the chunk finishes (one small INSERT, never a rewrite of the
whole list, so storage grows linearly with the list). ``result`` stays empty until the list is finished,
so ``GET /v1/jobs/<id>`` and an idempotent replay never mistake a half-done list for an answer;
``progress_done`` counts the finished items. So a list can start in the web process (a short list
answers within the call), continue in a worker when the call's time is up, and resume after a worker
was killed mid-list without paying twice for the chunks already done. Claims and hand-overs go through
``app.execution.lifecycle``.
"""
from __future__ import annotations

import json
import logging
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from decimal import Decimal
from typing import Any, Callable

from rq import Retry
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from app.execution import kinds, lifecycle
from app.execution.delivered import delivered
from app.execution import outbox
from app.money.budgets import request_spend
from app.execution.callbacks import CallbackRefused, check_target
from app.calls import AttemptRecord
from app.classify.chunk import ChunkOutcome, ClassifyPlan, classify_chunk
from app.classify.request import ClassifyRequest, ClassifySpec
from app.execution.inflight import InFlightCalls, lost_calls
from app.policy.schema import Policy
from app.pricing import usd
from app.execution.runtime import Runtime
from app.store import Attempt, ClassifyChunk, Request, Review, new_id, utcnow

log = logging.getLogger(__name__)

JOB = "workers.classify.run_classify_job"
# Chunks in flight at once after the first one. The first chunk runs alone so that it writes the
# prompt cache before the others read it (parallel first calls would each pay the cache write).
CHUNK_CONCURRENCY = 4
MAX_OUTPUT_TEXT_CHARS = 20_000
JOB_TIMEOUT_SECONDS = 6 * 3600
JOB_RETRY = Retry(max=2, interval=[5, 60])
RESULT_TTL_SECONDS = 24 * 3600
REVIEW_DRAFT_MAX_ITEMS = 500
LEDGER_PLACES = Decimal("1e-8")  # the scale of the ledger's money columns

Progress = Callable[[int, int], None]


# -- starting ------------------------------------------------------------------------------------

def create_request(session: Session, body: ClassifyRequest, *, policy: Policy, api_key_id: int | None,
                   chunk_size: int, exec_mode: str, idempotency: tuple[str, str] | None = None,
                   request_id: str | None = None) -> Request:
    """The ledger row of a new list, with everything a worker needs to run it."""
    items = body.normalised_items()
    task = policy.task_types.get(body.task_type)
    tier = task.tier if task else policy.tier_order[0]
    row = Request(id=request_id or new_id("req"), kind="classify", api_key_id=api_key_id, task_type=body.task_type, tier=tier,
                  model=policy.model_for(tier), status=lifecycle.QUEUED, exec_mode=exec_mode, batch=body.batch,
                  lease_until=lifecycle.lease(lifecycle.QUEUE_CHECK_SECONDS),
                  payload={"items": items, "spec": body.spec().to_dict(), "chunk_size": chunk_size},
                  progress_total=len(items), progress_done=0,
                  callback_url=body.callback_url, request_metadata=body.metadata,
                  workflow=str(body.metadata.get("workflow") or "")[:200] or None)
    if idempotency:
        row.idempotency_key, row.idempotency_hash = idempotency
    return row


def enqueue(rt: Runtime, request_id: str, job: str = JOB) -> None:
    """Queue the list's job; RQ retries it, and a retry resumes after the chunks already done."""
    enqueue_job(rt, request_id, job)


def enqueue_job(rt: Runtime, request_id: str, job: str = JOB) -> bool:
    """Queue the list's job; False when Redis is away (the row is stored: the sweeper queues it later)."""
    try:
        rt.job_queue.enqueue(job, request_id, job_id=request_id, retry=JOB_RETRY, job_timeout=JOB_TIMEOUT_SECONDS,
                             result_ttl=RESULT_TTL_SECONDS, failure_ttl=7 * 24 * 3600)
        return True
    except Exception as exc:
        log.warning("classify %s stored but not queued (%s); the sweeper will queue it", request_id,
                    type(exc).__name__)
        return False


def hand_to_workers(rt: Runtime, request_id: str) -> None:
    """The web process ran out of time: the rest of the list goes to a worker."""
    with rt.store.session() as session:
        lifecycle.requeue(session, request_id, rt.leases.owner)
    enqueue_job(rt, request_id)


def claim(rt: Runtime, request_id: str) -> bool:
    """Take the list for this process (a worker's job); False when it is finished or running elsewhere."""
    with rt.store.session() as session:
        claimed = lifecycle.claim(session, request_id, rt.leases.owner)
        if claimed is None:
            return False
        if claimed.recovered:  # the call its dead process had in flight goes in the ledger, at its estimate
            lost = lost_calls(rt.redis, request_id)
            if lost:
                tier = session.scalar(select(Request.tier).where(Request.id == request_id))
                session.execute(update(Request).where(Request.id == request_id)
                                .values(**add_attempts(session, request_id, tier, lost))
                                .execution_options(synchronize_session=False))
    return True


# -- running -------------------------------------------------------------------------------------

def run(rt: Runtime, request_id: str, *, deadline: float | None = None, progress: Progress | None = None,
        notify: bool = True) -> bool:
    """Run the chunks of ``request_id`` not done yet; True when the list is finished.

    Stops starting chunks once ``time.monotonic()`` passes ``deadline`` (the chunks in flight finish
    and are saved), so the caller can hand the rest to a worker. ``notify`` sends the callback when the
    list finishes (not when the answer goes back in the HTTP response).
    """
    policy: Policy = rt.policy()
    with rt.store.session() as session:
        row = session.execute(select(Request.result, Request.payload).where(Request.id == request_id)).first()
        if row is None:
            raise LookupError(f"no classify request {request_id}")
        if row.result is not None:  # finished before (a repeated job)
            return True
        items = [item["text"] for item in row.payload["items"]]
        chunk_size = int(row.payload.get("chunk_size") or 50)
        spec = ClassifySpec.from_dict(row.payload["spec"])
        done_starts = set(session.scalars(select(ClassifyChunk.start).where(ClassifyChunk.request_id == request_id)))
    spend = request_spend(rt.store, request_id, rt.settings)
    plan = ClassifyPlan(policy, spec, rt.providers(policy), rt.breaker,
                        observers=[InFlightCalls(rt.redis, request_id, policy.prices, keep_until_stored=False)], spend=spend)
    todo = [(start, min(start + chunk_size, len(items))) for start in range(0, len(items), chunk_size)
            if start not in done_starts]
    warm = bool(done_starts)
    remaining = {"items": sum(end - start for start, end in todo)}

    def save(bounds: tuple[int, int], outcome: ChunkOutcome) -> None:
        done = save_chunk(rt, request_id, bounds, outcome)
        remaining["items"] -= bounds[1] - bounds[0]
        if progress:
            progress(done, len(items))

    def expired() -> bool:
        return deadline is not None and time.monotonic() > deadline

    if progress:
        progress(len(items) - remaining["items"], len(items))
    if todo and not warm:  # the first chunk alone: it writes the prompt cache the others read
        bounds = todo.pop(0)
        save(bounds, classify_chunk(plan, items[bounds[0]:bounds[1]]))
    crashed: BaseException | None = None
    with ThreadPoolExecutor(max_workers=CHUNK_CONCURRENCY, thread_name_prefix="classify") as pool:
        running: dict[Future, tuple[int, int]] = {}
        while todo or running:
            while todo and len(running) < CHUNK_CONCURRENCY and not expired() and crashed is None:
                bounds = todo.pop(0)
                running[pool.submit(classify_chunk, plan, items[bounds[0]:bounds[1]])] = bounds
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                bounds = running.pop(future)
                try:
                    outcome = future.result()
                except Exception as exc:  # keep what the other chunks in flight paid for, then fail
                    crashed = crashed or exc
                    continue
                save(bounds, outcome)
    spend.release()
    if crashed is not None:
        raise crashed
    if remaining["items"] > 0:
        return False
    finish(rt, request_id, notify=notify)
    return True


def save_chunk(rt: Runtime, request_id: str, bounds: tuple[int, int], outcome: ChunkOutcome) -> int:
    """Store one chunk's results and attempts in one transaction; returns the items done so far.

    One INSERT for the chunk's answers, one for its attempts and one UPDATE of the totals: the cost
    of a chunk does not grow with the length of the list.
    """
    start, end = bounds
    with rt.store.session() as session:
        tier = session.scalar(select(Request.tier).where(Request.id == request_id))
        session.add(ClassifyChunk(request_id=request_id, start=start, end=end, results=outcome.results))
        totals = add_attempts(session, request_id, tier, outcome.attempts)
        session.execute(update(Request).where(Request.id == request_id).values(
            progress_done=Request.progress_done + (end - start), dry_run=Request.dry_run | outcome.dry_run,
            **totals).execution_options(synchronize_session=False))
        return session.scalar(select(Request.progress_done).where(Request.id == request_id))


def add_attempts(session: Session, request_id: str, tier: str | None, records: list[AttemptRecord]) -> dict[str, Any]:
    """The chunk's model calls as ``attempts`` rows; returns the UPDATE values that add them to the totals."""
    seq = session.scalar(select(func.coalesce(func.max(Attempt.seq), 0)).where(Attempt.request_id == request_id)) or 0
    rows, cost, baseline, latency, escalated = [], Decimal(0), Decimal(0), 0.0, False
    for record in records:
        seq += 1
        # The ledger keeps 8 decimal places: round once here, so the request's totals are the exact
        # sum of its attempts.
        record.cost_usd = record.cost_usd.quantize(LEDGER_PLACES)
        record.baseline_cost_usd = record.baseline_cost_usd.quantize(LEDGER_PLACES)
        rows.append(dict(request_id=request_id, seq=seq, created_at=utcnow(), purpose=record.purpose,
                         tier=record.tier, model=record.model, provider=record.provider, ok=record.ok,
                         gate=record.gate, reason=record.reason, gate_results=record.gate_results,
                         input_tokens=record.usage.input_tokens, output_tokens=record.usage.output_tokens,
                         cache_read_tokens=record.usage.cache_read_tokens,
                         cache_write_tokens=record.usage.cache_write_tokens, batch=getattr(record, "batch", False),
                         cache_write_1h_tokens=record.usage.cache_write_1h_tokens,
                         cost_usd=record.cost_usd, baseline_cost_usd=record.baseline_cost_usd,
                         latency_ms=record.latency_ms,
                         output_text=(record.output_text or "")[:MAX_OUTPUT_TEXT_CHARS] or None))
        cost += record.cost_usd
        baseline += record.baseline_cost_usd
        latency += record.latency_ms
        escalated = escalated or (record.tier != tier and record.purpose != "router")
    if rows:
        session.execute(insert(Attempt), rows)
    totals: dict[str, Any] = {"cost_usd": Request.cost_usd + cost, "baseline_cost_usd": Request.baseline_cost_usd + baseline,
                              "latency_ms": func.coalesce(Request.latency_ms, 0.0) + latency}
    if escalated:
        totals["escalated"] = True
    return totals


def chunk_results(session: Session, request_id: str, total: int) -> list[dict[str, Any] | None]:
    """Every item's answer so far, in input order (None where its chunk has not run)."""
    results: list[dict[str, Any] | None] = [None] * total
    for start, answers in session.execute(select(ClassifyChunk.start, ClassifyChunk.results)
                                          .where(ClassifyChunk.request_id == request_id)):
        results[start:start + len(answers)] = answers
    return results


# -- finishing -----------------------------------------------------------------------------------

def finish(rt: Runtime, request_id: str, *, notify: bool = True) -> dict[str, Any]:
    """Ids back on, counts, the review item for flagged rows, the final answer, then the callback."""
    store = rt.store
    deliveries: list[int] = []
    with store.session() as session:
        row = session.get(Request, request_id)
        if row.result is not None:
            return row.result
        answers = chunk_results(session, request_id, len(row.payload["items"]))
        results = [{"id": item["id"], **(result or {})} for item, result in zip(row.payload["items"], answers)]
        flagged = [result for result in results if result.get("needs_review")]
        errors = sum(1 for result in results if result.get("error"))
        row.needs_review = bool(flagged)
        row.review_reasons = _review_reasons(results)
        row.status = "failed" if errors == len(results) else "needs_review" if flagged else "done"
        row.finished_at = utcnow()
        row.progress_done = len(results)
        review_id = None
        texts = {str(item["id"]): item.get("text") for item in row.payload["items"]}
        for result in flagged:  # one review per row, so a reviewer can decide rows one by one
            review = Review(id=new_id("rev"), kind="draft", request_id=row.id, task_type=row.task_type, tier=row.tier,
                            reasons=_review_reasons([result]), input_text=texts.get(str(result["id"])),
                            draft=_review_draft([result]), callback_url=row.callback_url,
                            request_metadata={**(row.request_metadata or {}), "row_id": result["id"]})
            session.add(review)
            result["review_id"] = review.id
            review_id = review_id or review.id  # the answer's review_id: the first flagged row's
        row.result = response_body(row, results, review_id)
        row.owner, row.lease_until = None, None
        body = row.result
        if notify and row.callback_url:
            deliveries = _callback(session, row.callback_url, body, rt.settings)
    outbox.kick(store, rt.settings, deliveries)
    delivered(rt, request_id, row.task_type)  # e.g. the shadow sampler: sampled rows run on the baseline model later
    return body


def stored_result(rt: Runtime, request_id: str) -> dict[str, Any] | None:
    with rt.store.session() as session:
        return session.get(Request, request_id).result


def response_body(row: Request, results: list[dict[str, Any]], review_id: str | None) -> dict[str, Any]:
    """The contract's ``/v1/classify`` answer."""
    spec = row.payload["spec"]
    counts = {label["name"]: 0 for label in spec["labels"]}
    for result in results:
        key = result.get("label") if result.get("label") is not None else ("dry_run" if result.get("dry_run") else "error")
        counts[key] = counts.get(key, 0) + 1
    cost, baseline = row.cost_usd or Decimal(0), row.baseline_cost_usd or Decimal(0)
    body = {
        "request_id": row.id, "status": row.status, "task_type": row.task_type, "results": results,
        "counts": counts, "needs_review": any(r.get("needs_review") for r in results),
        "flagged": sum(1 for r in results if r.get("needs_review")),
        "cost_usd": usd(cost), "baseline_cost_usd": usd(baseline), "saving_usd": usd(baseline - cost),
        "batch": bool(row.batch), "dry_run": bool(row.dry_run), "metadata": row.request_metadata or {},
    }
    if review_id:
        body["review_id"] = review_id
    return body


def _review_reasons(results: list[dict[str, Any]]) -> list[str]:
    reasons = []
    if any(r.get("label") == "unknown" or r.get("review_reason") for r in results):
        reasons.append("low confidence: still unsure after escalation")
    if any(r.get("error") for r in results):
        reasons.append("no usable answer for some items")
    return reasons


def _review_draft(flagged: list[dict[str, Any]]) -> str:
    shown = flagged[:REVIEW_DRAFT_MAX_ITEMS]
    lines = [json.dumps({key: r.get(key) for key in ("id", "label", "suggested_label", "confidence", "reason", "error")
                         if r.get(key) is not None}, ensure_ascii=False, default=str) for r in shown]
    if len(flagged) > len(shown):
        lines.append(f"... and {len(flagged) - len(shown)} more")
    return "\n".join(lines)


def _callback(session: Session, url: str, body: dict[str, Any], settings) -> list[int]:
    """The signed ``job.finished`` callback, into the outbox with the answer (checked against private
    ranges again: DNS may have changed since the request came in)."""
    try:
        check_target(url, settings.allowed_callback_hosts)
    except CallbackRefused as exc:  # the answer is stored either way; GET /v1/jobs/<id> still has it
        log.warning("classify %s: callback not sent: %s", body["request_id"], exc)
        return []
    return [outbox.add(session, url, {**body, "job_id": body["request_id"], "event": "job.finished"},
                       request_id=body["request_id"]).id]


def mark_failed(rt: Runtime, request_id: str, exc: BaseException, *, final: bool) -> None:
    """Record why a list's job crashed: back to ``queued`` while RQ will retry, after which the chunks
    already done stay and a retry starts after them. A final failure still answers every item (those
    not labelled get an error entry and ``needs_review``) and calls the workflow back, so no row is
    dropped and no workflow waits forever."""
    error = f"{type(exc).__name__}: {exc}"[:2000]
    with rt.store.session() as session:
        row = session.get(Request, request_id)
        if row is None or row.result is not None:
            return
        row.status, row.error = ("failed" if final else lifecycle.QUEUED), error
        row.owner, row.lease_until = None, lifecycle.lease(lifecycle.QUEUE_CHECK_SECONDS)
        if final:  # every item not labelled gets an error entry, in a chunk row of its own
            answers = chunk_results(session, request_id, len(row.payload["items"]))
            for position, answer in enumerate(answers):
                if answer is None:
                    session.add(ClassifyChunk(request_id=request_id, start=position, end=position + 1,
                                              results=[_job_failed_entry(error)]))
    if final:
        finish(rt, request_id)


def _job_failed_entry(error: str) -> dict[str, Any]:
    return {"label": None, "confidence": 0.0, "reason": "not labelled: the job failed after its retries",
            "model": None, "tier": None, "needs_review": True, "error": {"gate": "job", "message": error[:400]}}


kinds.register("classify", enqueue_job)  # a worker resumes a list from its first chunk without an answer
