"""Run a stored fallback request through the cascade and write the ledger: attempts, totals, review, callback.

A sync request runs right in the web process that received it (``start_sync``): stored first, leased
to that process, its cascade in a greenlet beside the HTTP request, so an answer costs no queue round
trip and waiting on the model costs no thread. An async request, or a sync one whose web process died,
runs in a worker (``run_job``). Both end in ``store_outcome``: one transaction with the outcome, the
attempts, the review item and the callback (``app.execution.outbox``), shared with other requests'
(``app.store.group_commit``). State moves go through ``app.execution.lifecycle``.
"""
from __future__ import annotations

import logging
import time
from decimal import Decimal
from typing import Any

from rq import Retry
from sqlalchemy import func, select, update

from app.execution import kinds, lifecycle
from app.execution.delivered import delivered
from app.execution import outbox
from app.money.budgets import request_spend
from app.cascade import CascadeInput, CascadeResult, run_cascade
from app.calls import AttemptRecord
from app.execution.inflight import InFlightCalls, lost_calls
from app.execution.sync import SyncTask, spawn
from app.money.overhead import HELD_FOR_REVIEW, RERUN_PURPOSE, with_overhead, workflow_of
from app.policy import TaskType
from app.notify import notifications
from app.policy.schema import GateSpec
from app.providers.breaker import circuits_read, circuits_seen
from app.execution.runtime import Runtime
from app.store import Attempt, Request, Review, new_id, utcnow
from app.store.models import column_row
from app.store.prepared import Prepared
from app.tasks.turns import PlaceWhileCalling, at_work, hold, let_go, pause_unheld, wait_turn
from app.store.db import retrying

log = logging.getLogger(__name__)

JOB = "workers.fallback.run_fallback_job"
# The kinds of stored request this runner executes: its own, the drop-in gateway's calls and re-runs.
FALLBACK, GATEWAY, RERUN = "fallback", "gateway", "rerun"
RERUN_OF = "rerun_of"  # in a re-run's payload: the request it re-runs
JOB_TIMEOUT_SECONDS = 15 * 60
# The first retry is immediate: it is usually a job whose worker crashed. The sweeper is the net under it.
JOB_RETRY = Retry(max=2, interval=[0, 60])
RESULT_TTL_SECONDS = 3600
# How long an async request may wait out a provider outage (``on_provider_error: wait``) before it fails.
PROVIDER_WAIT_SECONDS = 10 * 60
# A sync request stops waiting for a provider this long before its bound, to answer with the reason.
SYNC_WAIT_MARGIN_SECONDS = 1.0
GENERIC_TASK = TaskType(tier="tier2", gates=[GateSpec(name="non_empty")])
MAX_OUTPUT_TEXT_CHARS = 20_000


def enqueue(rt: Runtime, request_id: str) -> bool:
    """Put the request's job on the queue; False when Redis is away (the sweeper queues it later)."""
    try:
        rt.job_queue.enqueue(JOB, request_id, job_id=request_id, retry=JOB_RETRY, job_timeout=JOB_TIMEOUT_SECONDS,
                             result_ttl=RESULT_TTL_SECONDS, failure_ttl=7 * 24 * 3600)
        return True
    except Exception as exc:  # RedisError or a timeout: the request is stored, so it is not lost
        log.warning("request %s stored but not queued (%s); the sweeper will queue it", request_id,
                    type(exc).__name__)
        return False


def start_sync(rt: Runtime, request_id: str, payload: dict[str, Any], *, wait_until: float) -> SyncTask:
    """Run a stored sync request (leased to this process) in a greenlet; the caller waits on the task."""
    task = SyncTask()
    claimed = lifecycle.Claimed(request_id, "fallback", payload, recovered=False)
    seen = circuits_seen()  # what the request read of the circuits with its key: its first calls go by it

    def _run():
        answer = None
        with at_work():  # others' turns see this request under way, even while its model works
            hold()  # the steps up to the model call, and from its answer to the stored outcome (``app.tasks.turns``)
            try:
                with circuits_read(seen):
                    answer = run_claimed(rt, claimed, task=task, wait_until=wait_until)
            except Exception as exc:
                log.exception("request %s failed in the web process; handing it to the workers", request_id)
                _hand_back(rt, request_id, exc)
            finally:
                let_go()
                task.finish(answer)

    spawn(_run, name=f"tiergate-{request_id}")
    return task


def run_job(rt: Runtime, request_id: str, *, final_try: bool = True) -> dict[str, Any] | None:
    """A worker's run of a queued request (or one rescued from a dead process); safe to run twice."""
    with rt.store.session() as session:
        claimed = lifecycle.claim(session, request_id, rt.leases.owner)
    if claimed is None:  # finished already, or running in a live process
        return stored_answer(rt, request_id)
    try:
        return run_claimed(rt, claimed, wait_until=time.monotonic() + PROVIDER_WAIT_SECONDS)
    except Exception as exc:
        mark_failed(rt, request_id, exc, final=final_try)
        raise


def run_claimed(rt: Runtime, claimed: lifecycle.Claimed, *, task: SyncTask | None = None,
                wait_until: float | None = None) -> dict[str, Any] | None:
    """Run the cascade for a request this process owns and store the outcome; returns the answer."""
    payload = claimed.payload
    spend = request_spend(rt.store, claimed.request_id, rt.settings)
    # Calls an earlier run paid for but never stored (its process died, or it crashed before storing).
    lost = book_lost_calls(rt, claimed.request_id, spend) if task is None else []
    in_flight = InFlightCalls(rt.redis, claimed.request_id, rt.policy().prices)
    rerun = bool(payload.get(RERUN_OF))
    # In the web process no work place is held while the model is called or an outage waited out
    # (``app.tasks.turns``).
    observers, pause = ([in_flight, PlaceWhileCalling()], pause_unheld) if task is not None else ([in_flight], None)
    with rt.leases.hold(claimed.request_id):
        try:
            result = execute(rt, payload, wait_until=wait_until, spend=spend, observers=observers, pause=pause)
        finally:
            spend.release()
        if rerun:
            result = as_rerun(result)
        result.attempts[:0] = lost
        by_response = task is not None and task.respond_or_callback()
        # A reviewer's re-run: its answer becomes a review item of the reviews module, no callback of ours.
        answer = store_outcome(rt, claimed.request_id, result, payload, callback=not by_response and not rerun,
                               recovered=claimed.recovered, create_review=not rerun)
    if answer is not None:
        in_flight.forget()  # every call is in the ledger now: the note goes, off the answer's path
    if answer is not None and not rerun:
        delivered(rt, claimed.request_id, result.task_type)  # e.g. the shadow sampler, later, in the background
    return answer


def book_lost_calls(rt: Runtime, request_id: str, spend) -> list[AttemptRecord]:
    """The calls a stopped or crashed run had in flight, as attempts booked at their upper bounds (drawn
    from the holds that run took for them); the caller stores them with the request's outcome."""
    lost = lost_calls(rt.redis, request_id)
    if lost:
        paid = sum((call.cost_usd for call in lost), Decimal(0))
        spend.settle(paid, paid)
    return lost


def execute(rt: Runtime, payload: dict[str, Any], tier: str | None = None, *, wait_until: float | None = None,
            observers=(), spend=None, pause=None) -> CascadeResult:
    """The cascade for a stored payload, on the decision's tier or ``tier``."""
    policy = rt.policy()
    decision = payload["decision"]
    if decision.get(HELD_FOR_REVIEW):  # a spent downgrade budget at the request's floor: no model is called
        return CascadeResult(task_type=decision["task_type"], status="needs_review", output=None, tier=None, model=None,
                             start_tier=decision["tier"], escalated=False, needs_review=True,
                             review_reasons=["budget_floor"], attempts=[], stop_rule="budget",
                             review_details=[{"rule": "budget_floor", "detail": decision[HELD_FOR_REVIEW]}])
    task = policy.task_types.get(decision["task_type"]) or GENERIC_TASK
    snippets = ([payload["brand_rules"]] if payload.get("brand_rules") else []) + list(payload.get("knowledge") or [])
    job = CascadeInput(
        task_type=decision["task_type"], task=task, tier=tier or decision["tier"], text=payload.get("text"),
        messages=payload.get("messages"), risk=payload.get("risk", "low"), external=bool(payload.get("external")),
        output_schema=payload.get("output_schema"),
        max_cost_usd=Decimal(str(payload["max_cost_usd"])) if payload.get("max_cost_usd") else None,
        labels=payload.get("labels"), snippets=snippets, review_reasons=list(decision.get("review_reasons") or []),
        confidence_threshold=payload.get("confidence_threshold"), wait_until=wait_until,
        chat=payload.get("chat"),  # a drop-in gateway call (app.gateway): the client's prompt, tools and format
        pause=pause,
    )
    return run_cascade(policy, job, rt.providers(policy), breaker=rt.breaker, observers=observers, spend=spend)


def answer_of(request_id: str, result: CascadeResult, payload: dict[str, Any]) -> dict[str, Any]:
    """The contract's ``/v1/fallback`` answer for a cascade outcome."""
    answer = {"request_id": request_id, "job_id": request_id, **result.to_dict(),
              "decision_id": payload["decision"].get("id"), "metadata": payload.get("metadata") or {},
              "review_id": None, "review_url": None}
    return with_overhead(None, request_id, answer, payload["decision"])


def store_outcome(rt: Runtime, request_id: str, result: CascadeResult, payload: dict[str, Any], *,
                   callback: bool, recovered: bool = False, create_review: bool = True) -> dict[str, Any] | None:
    """Outcome, attempts, review item and callback in one transaction; None if this process lost the request.

    The answer is paid for: while the database is away (a restart, a lock) the transaction is tried again
    for a while (``retrying``) rather than handing the request back, which would call the model again.
    """
    # A burst of answers arriving together is stored one per turn of the event loop, and without a work
    # place: a database away for a while (``retrying``) holds up no other request's work.
    let_go()
    wait_turn()
    answer = answer_of(request_id, result, payload)
    deliveries = retrying(lambda: _write_outcome(rt, request_id, result, payload, answer, callback=callback,
                                                 recovered=recovered, create_review=create_review))
    if deliveries is None:
        return None
    outbox.kick(rt.store, rt.settings, deliveries)
    return answer


def _write_outcome(rt: Runtime, request_id: str, result: CascadeResult, payload: dict[str, Any],
                   answer: dict[str, Any], *, callback: bool, recovered: bool, create_review: bool) -> list[int] | None:
    """``store_outcome``'s one transaction; the callbacks it added, or None if the lease was lost.

    Plain UPDATE and INSERTs (no ORM unit of work), committed together with other requests' outcomes
    and intakes finishing at the same time (``app.store.group_commit``).
    """
    review = draft = None
    if result.needs_review and create_review:
        fields = dict(
            id=new_id("rev"), kind="draft", status="pending", request_id=request_id, task_type=result.task_type,
            tier=result.tier, reasons=result.review_details, input_text=_input_text(payload),
            draft=_as_text(result.output), callback_url=payload.get("callback_url"),
            request_metadata=payload.get("metadata") or {})
        review, draft = column_row(Review, fields), Review(**fields)  # the row to write; what notifications read
        base = (rt.settings.public_url or "").rstrip("/")
        answer.update(review_id=review["id"], review_url=f"{base}/review/{review['id']}")
    values = dict(
        status=result.status, tier=result.tier or payload["decision"]["tier"], model=result.model,
        escalated=result.escalated, needs_review=result.needs_review, review_reasons=result.review_reasons,
        dry_run=result.dry_run, cost_usd=result.cost_usd, baseline_cost_usd=result.baseline_cost_usd,
        latency_ms=result.latency_ms, finished_at=utcnow(), error=result.error, progress_done=1,
        progress_total=1, result=answer)
    owner, callback_url = rt.leases.owner, payload.get("callback_url") if callback else None

    def write(connection) -> list[int] | None:
        if not lifecycle.finish(connection, request_id, owner, values):
            return None
        deliveries = []
        if review is not None:
            connection.execute(_INSERT_REVIEW, review)
            deliveries += notifications.announce_inserted(connection, rt.settings, [draft])  # people are told
        first_seq = _attempt_count(connection, request_id) if recovered else 0
        if result.attempts:
            _INSERT_ATTEMPTS.run(connection, [_attempt_row(request_id, first_seq + seq, attempt)
                                                for seq, attempt in enumerate(result.attempts, start=1)])
        if callback_url:
            deliveries.append(outbox.insert(connection, callback_url, {**answer, "event": "job.finished"},
                                            request_id=request_id))
        return deliveries

    deliveries = rt.store.group_commit.write(write)
    if deliveries is None:  # after a retry, also when the first try did commit but its answer was lost
        log.warning("request %s: lease lost before the outcome was stored; its new owner finishes it", request_id)
    return deliveries


_ATTEMPTS = Attempt.__table__
# Built once: a statement's cache key is computed once per statement object; the attempts' INSERT, made on
# every request, compiled once (``app.store.prepared``).
_INSERT_ATTEMPTS, _INSERT_REVIEW = Prepared(_ATTEMPTS.insert()), Review.__table__.insert()


def _attempt_count(connection, request_id: str) -> int:
    return connection.scalar(select(func.count()).select_from(_ATTEMPTS).where(_ATTEMPTS.c.request_id == request_id)) or 0


def _attempt_row(request_id: str, seq: int, attempt: AttemptRecord) -> dict[str, Any]:
    return dict(request_id=request_id, seq=seq, created_at=utcnow(), purpose=attempt.purpose, tier=attempt.tier,
                model=attempt.model, provider=attempt.provider, ok=attempt.ok, gate=attempt.gate,
                reason=attempt.reason, gate_results=attempt.gate_results, input_tokens=attempt.usage.input_tokens,
                output_tokens=attempt.usage.output_tokens, cache_read_tokens=attempt.usage.cache_read_tokens,
                cache_write_tokens=attempt.usage.cache_write_tokens, batch=False, cost_usd=attempt.cost_usd,
                cache_write_1h_tokens=attempt.usage.cache_write_1h_tokens, cache_markers=attempt.cache_markers,
                baseline_cost_usd=attempt.baseline_cost_usd, latency_ms=attempt.latency_ms,
                output_text=(attempt.output_text or "")[:MAX_OUTPUT_TEXT_CHARS] or None)


def stored_answer(rt: Runtime, request_id: str) -> dict[str, Any] | None:
    with rt.store.session() as session:
        return session.scalar(select(Request.result).where(Request.id == request_id))


def _hand_back(rt: Runtime, request_id: str, exc: BaseException) -> None:
    """A crash in the web process: give the request to the workers (queued, and on the queue)."""
    try:
        with rt.store.session() as session:
            moved = lifecycle.requeue(session, request_id, rt.leases.owner, error=_error_text(exc))
        if moved:
            enqueue(rt, request_id)
    except Exception:
        log.exception("request %s: could not hand back; the sweeper rescues it when its lease runs out", request_id)


def mark_failed(rt: Runtime, request_id: str, exc: BaseException, *, final: bool) -> None:
    """A job that crashed: back to ``queued`` while RQ will retry, else a final ``failed`` answer.

    A final failure is answered like any other outcome (status ``failed`` with the error, and the
    callback), so a workflow waiting on ``callback_url`` resumes instead of hanging forever.
    """
    error = _error_text(exc)
    with rt.store.session() as session:
        row = session.execute(select(Request.payload, Request.status, Request.owner)
                              .where(Request.id == request_id)).first()
    if row is None or row.status not in (lifecycle.QUEUED, lifecycle.RUNNING):
        return
    if not final:
        with rt.store.session() as session:
            lifecycle.requeue(session, request_id, None, error=error)
        return
    spend = request_spend(rt.store, request_id, rt.settings)
    lost = book_lost_calls(rt, request_id, spend)  # the crashed run's paid calls, in the ledger with the failure
    spend.release()
    decision = row.payload.get("decision") or {}
    failed = CascadeResult(task_type=decision.get("task_type", "unknown"), status="failed", output=None, tier=None,
                           model=None, start_tier=decision.get("tier", ""), escalated=False, needs_review=False,
                           review_reasons=[], attempts=lost, error=f"the job failed after its retries: {error}")
    with rt.store.session() as session:  # take it over whoever held it: it is over
        session.execute(update(Request).where(Request.id == request_id)
                        .values(status=lifecycle.RUNNING, owner=rt.leases.owner)
                        .execution_options(synchronize_session=False))
    store_outcome(rt, request_id, failed, row.payload, callback=True)


def rerun_at_tier(rt: Runtime, payload: dict[str, Any], tier: str, *, api_key_id: int | None = None,
                  parent_request_id: str | None = None) -> dict[str, Any]:
    """A reviewer's re-run: a ledger row of kind ``rerun``, overhead of the original request
    (``app.money.overhead``), for the same payload on ``tier`` (no new review row, no callback).

    It runs like any stored request (``run_claimed``): leased, guarded, and rescued by a worker if this
    process dies.
    """
    payload = {**payload, RERUN_OF: parent_request_id or True,
               "decision": {key: value for key, value in {**payload["decision"], "tier": tier}.items()
                            if not key.startswith("router_")}}
    with rt.store.session() as session:
        row = Request(kind=RERUN, task_type=payload["decision"]["task_type"], tier=tier,
                      status=lifecycle.RUNNING, owner=rt.leases.owner, lease_until=lifecycle.lease(),
                      exec_mode="rerun", payload=payload, api_key_id=api_key_id, progress_total=1,
                      request_metadata=payload.get("metadata") or {}, workflow=workflow_of(payload.get("metadata")),
                      parent_request_id=parent_request_id)
        session.add(row)
        session.flush()
        request_id = row.id
    claimed = lifecycle.Claimed(request_id, RERUN, payload, recovered=False)
    try:
        # No waiting out an outage: the reviewer gets the item back at once, naming the provider state.
        answer = run_claimed(rt, claimed, wait_until=None)
    except Exception as exc:
        with rt.store.session() as session:
            lifecycle.finish(session, request_id, rt.leases.owner, {"status": "failed", "error": _error_text(exc),
                                                                     "finished_at": utcnow()})
        raise
    return answer or {}


def as_rerun(result: CascadeResult) -> CascadeResult:
    """A reviewer's re-run: every attempt is overhead of the original task (no baseline of its own)."""
    for attempt in result.attempts:
        attempt.purpose, attempt.baseline_cost_usd = RERUN_PURPOSE, Decimal(0)
    return result


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


def _input_text(payload: dict[str, Any]) -> str:
    if payload.get("text"):
        return payload["text"]
    return "\n".join(f"{m['role']}: {m['content']}" for m in payload.get("messages") or [])


def _as_text(output: Any) -> str | None:
    import json

    return output if output is None or isinstance(output, str) else json.dumps(output, ensure_ascii=False, indent=2)


for _kind in (FALLBACK, GATEWAY, RERUN):  # a worker resumes each of them with the same job
    kinds.register(_kind, enqueue)
