"""The review queue: list and read flagged items, decide them once, resume the waiting workflow.

A decision is a conditional ``UPDATE reviews ... WHERE status = 'pending'``: of two reviewers deciding
the same item, the database lets exactly one update a row, the other gets a Conflict, and only the
winner enqueues the ``review.decided`` callback — the workflow never resumes twice.

Re-run asks the cascade (as an RQ job) for a fresh answer one tier higher; its result comes back as a new
pending item that inherits the callback, so the workflow resumes only once a person approves or rejects
an answer.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import String, cast, func, or_, select, update
from sqlalchemy.orm import Session

from app.errors import ApiError, Conflict, InvalidField, NotFound, TiergateError
from app.store import Attempt, Request, Review, utcnow

log = logging.getLogger(__name__)

ACTIONS = ("approve", "reject", "rerun")
STATUSES = ("pending", "approved", "rejected", "rerun")
STATUS_OF_ACTION = {"approve": "approved", "reject": "rejected", "rerun": "rerun"}
KINDS = ("draft", "audit")
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
MAX_MINUTES_SPENT = 24 * 60
DECIDED_EVENT = "review.decided"
RERUN_JOB = "workers.reviews.rerun_review_job"


@dataclass(frozen=True)
class QueueFilter:
    """What the list page and ``GET /v1/reviews`` filter on; None means "any"."""

    status: str | None = "pending"
    kind: str | None = None
    task_type: str | None = None
    reason: str | None = None
    older_than_minutes: float | None = None
    newer_than_minutes: float | None = None
    limit: int = DEFAULT_PAGE_SIZE
    search: str | None = None  # text in the id, task type, input, draft or metadata (customer, workflow)
    offset: int = 0


@dataclass(frozen=True)
class DecisionInput:
    action: str
    text: str | None = None
    note: str | None = None
    minutes_spent: float | None = None
    correct: bool | None = None  # audit items: was the tier1 answer right?


# -- reading -------------------------------------------------------------------------------------

# What a reviewer reads instead of a flagger's code. Unknown codes are shown as they are.
REASON_LABELS = {
    "high_risk": "High risk",
    "external": "Goes to a customer",
    "task_type_review": "Always reviewed (task type)",
    "sensitive_content": "Sensitive content",
    "gates_failed": "Failed the checks",
    "spend_cap": "Stopped at the spend cap",
    "rerun": "Re-run on a higher tier",
    "low confidence: still unsure after escalation": "Low confidence",
    "no usable answer for some items": "No usable answer",
}
# Items flagged for one of these are never approved in bulk: a person reads each one.
NOT_BULK_APPROVABLE = frozenset({"high_risk", "external", "task_type_review", "sensitive_content", "spend_cap"})


def reason_label(reason: Any) -> str:
    """A reason as a reviewer reads it: "Goes to a customer" rather than ``external``."""
    key = reason_key(reason)
    return REASON_LABELS.get(key, key.replace("_", " ").capitalize())


def is_low_risk(review: Review) -> bool:
    """A pending draft whose reasons are only doubt about the answer, so it may be approved in bulk."""
    return (review.status == "pending" and review.kind == "draft"
            and not {reason_key(r) for r in review.reasons or []} & NOT_BULK_APPROVABLE)


def reason_key(reason: Any) -> str:
    """A reason's short name, whether the flagger stored a string or a ``{rule, detail}`` object."""
    if isinstance(reason, dict):
        return str(reason.get("rule") or reason.get("code") or reason.get("reason") or "other")
    return str(reason)


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes for timezone-aware columns; they were stored as UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _filtered(flt: QueueFilter):
    query = select(Review)
    if flt.status:
        query = query.where(Review.status == flt.status)
    if flt.kind:
        query = query.where(Review.kind == flt.kind)
    if flt.task_type:
        query = query.where(Review.task_type == flt.task_type)
    now = utcnow()
    if flt.older_than_minutes is not None:
        query = query.where(Review.created_at <= now - timedelta(minutes=flt.older_than_minutes))
    if flt.newer_than_minutes is not None:
        query = query.where(Review.created_at >= now - timedelta(minutes=flt.newer_than_minutes))
    if flt.search and flt.search.strip():
        # Metadata is JSON; its text form holds the caller's fields (customer, workflow) on every database.
        pattern = f"%{flt.search.strip()}%"
        query = query.where(or_(Review.id.ilike(pattern), Review.task_type.ilike(pattern),
                                Review.input_text.ilike(pattern), Review.draft.ilike(pattern),
                                cast(Review.request_metadata, String).ilike(pattern)))
    return query.order_by(Review.created_at, Review.id)


def count_reviews(session: Session, flt: QueueFilter) -> int:
    """How many items match the filter (for the pager)."""
    if flt.reason:
        return sum(1 for review in session.scalars(_filtered(flt))
                   if flt.reason in {reason_key(r) for r in review.reasons or []})
    return session.scalar(select(func.count()).select_from(_filtered(flt).order_by(None).subquery())) or 0


def list_reviews(session: Session, flt: QueueFilter) -> list[Review]:
    """Items matching the filter, oldest first (the longest-waiting workflow comes first)."""
    query = _filtered(flt)
    limit, offset = max(1, min(flt.limit, MAX_PAGE_SIZE)), max(0, flt.offset)
    if not flt.reason:
        return list(session.scalars(query.offset(offset).limit(limit)))
    # Reasons are a JSON list whose SQL operators differ per database; the queue is small enough
    # (hundreds of items, not millions) to filter them here.
    matched = [review for review in session.scalars(query) if flt.reason in {reason_key(r) for r in review.reasons or []}]
    return matched[offset:offset + limit]


def queue_counts(session: Session, flt: QueueFilter) -> dict[str, dict[str, int]]:
    """Counts for the filter bar: per status (all items), and per reason and task type within the status."""
    by_status = dict(session.execute(select(Review.status, func.count()).group_by(Review.status)).all())
    scope = select(Review.task_type, Review.reasons)
    if flt.status:
        scope = scope.where(Review.status == flt.status)
    if flt.kind:
        scope = scope.where(Review.kind == flt.kind)
    by_type: dict[str, int] = {}
    by_reason: dict[str, int] = {}
    for task_type, reasons in session.execute(scope):
        by_type[task_type] = by_type.get(task_type, 0) + 1
        for key in {reason_key(reason) for reason in reasons or []}:
            by_reason[key] = by_reason.get(key, 0) + 1
    return {"status": {status: by_status.get(status, 0) for status in STATUSES},
            "task_type": dict(sorted(by_type.items())), "reason": dict(sorted(by_reason.items()))}


def get_review(session: Session, review_id: str) -> Review:
    review = session.get(Review, review_id)
    if review is None:
        raise NotFound(f"no review with id {review_id}", "review_id")
    return review


def attempts_of(session: Session, review: Review) -> list[Attempt]:
    if not review.request_id:
        return []
    return list(session.scalars(select(Attempt).where(Attempt.request_id == review.request_id).order_by(Attempt.seq)))


def next_pending_id(session: Session, after: Review) -> str | None:
    """The pending item after this one in queue order (for the "next" shortcut)."""
    return session.scalar(select(Review.id).where(Review.status == "pending", Review.id != after.id,
                                                  Review.created_at >= after.created_at)
                          .order_by(Review.created_at, Review.id).limit(1))


def age_seconds(review: Review, now: datetime | None = None) -> float:
    return max(0.0, ((now or utcnow()) - _aware(review.created_at)).total_seconds())


def _iso(moment: datetime | None) -> str | None:
    return _aware(moment).isoformat() if moment else None


def _money(value) -> float | None:
    return float(value) if value is not None else None


def attempt_json(attempt: Attempt) -> dict[str, Any]:
    return {"model": attempt.model, "tier": attempt.tier, "purpose": attempt.purpose, "ok": attempt.ok,
            "gate": attempt.gate, "reason": attempt.reason, "input_tokens": attempt.input_tokens,
            "output_tokens": attempt.output_tokens, "cache_read_tokens": attempt.cache_read_tokens,
            "cache_write_tokens": attempt.cache_write_tokens, "cost_usd": _money(attempt.cost_usd),
            "latency_ms": attempt.latency_ms, "output": attempt.output_text}


def review_json(review: Review, attempts: list[Attempt] | None = None) -> dict[str, Any]:
    """The contract's review item: ``review_id, task_type, reasons, draft, created_at`` and more."""
    item: dict[str, Any] = {
        "review_id": review.id,
        "kind": review.kind,
        "status": review.status,
        "task_type": review.task_type,
        "tier": review.tier,
        "reasons": review.reasons or [],
        "input": review.input_text,
        "draft": review.draft,
        "created_at": _iso(review.created_at),
        "age_seconds": round(age_seconds(review)),
        "request_id": review.request_id,
        # The callback URL itself is a capability (an n8n resume URL) and is not shown.
        "has_callback": bool(review.callback_url),
        "callback_error": (review.request_metadata or {}).get("callback_error"),
        "metadata": review.request_metadata or {},
        "action": review.action,
        "output": review.final_text,
        "note": review.note,
        "minutes_spent": review.minutes_spent,
        "decided_by": review.decided_by,
        "decided_at": _iso(review.decided_at),
    }
    if review.kind == "audit":
        item["audit"] = {"month": review.audit_month, "class": review.audit_class, "correct": review.audit_correct}
    if attempts is not None:
        item["attempts"] = [attempt_json(attempt) for attempt in attempts]
        item["cost_usd"] = round(sum(float(attempt.cost_usd or 0) for attempt in attempts), 8)
    return item


# -- deciding ------------------------------------------------------------------------------------

def validate_decision(review: Review, decision: DecisionInput) -> None:
    if decision.action not in ACTIONS:
        raise InvalidField(f"action must be one of {', '.join(ACTIONS)}", "action")
    if decision.minutes_spent is not None and not 0 <= decision.minutes_spent <= MAX_MINUTES_SPENT:
        raise InvalidField(f"minutes_spent must be between 0 and {MAX_MINUTES_SPENT}", "minutes_spent")
    if decision.action == "rerun" and review.kind == "audit":
        raise InvalidField("audit items are marked right or wrong; re-run applies to drafts", "action")


def _audit_correct(review: Review, decision: DecisionInput) -> bool | None:
    """Right or wrong for an audit item: as marked, else approved unchanged = right."""
    if review.kind != "audit":
        return None
    if decision.correct is not None:
        return decision.correct
    if decision.action == "reject":
        return False
    return decision.text is None or decision.text.strip() == (review.draft or "").strip()


def decide(session: Session, review_id: str, decision: DecisionInput, reviewer: str) -> Review:
    """Record a decision once and enqueue what follows it; Conflict if someone decided first.

    The callback goes into the outbox in the decision's own transaction (both or neither), and the
    re-run job is enqueued before the commit: if Redis refuses, the decision rolls back and the
    reviewer can try again, rather than the workflow never hearing of it.
    """
    review = get_review(session, review_id)
    validate_decision(review, decision)
    text = decision.text if decision.text not in (None, "") else None
    if text is not None and (decision.action == "approve" or review.kind == "audit"):
        from app.reviews.edits import check_edit, edit_rules

        check_edit(edit_rules(session, review), text)  # valid JSON, allowed labels, the caller's schema
    final_text = (text if text is not None else review.draft) if decision.action == "approve" else None
    if decision.action == "reject" and review.kind == "audit" and text is not None:
        final_text = text  # the corrected answer of a wrong audit sample
    values = dict(status=STATUS_OF_ACTION[decision.action], action=decision.action, decided_by=reviewer,
                  decided_at=utcnow(), final_text=final_text, note=(decision.note or None),
                  minutes_spent=decision.minutes_spent, audit_correct=_audit_correct(review, decision))
    result = session.execute(update(Review).where(Review.id == review_id, Review.status == "pending").values(**values)
                             .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        session.rollback()
        raise _conflict(get_review(session, review_id))
    session.refresh(review)
    try:
        if decision.action == "rerun":
            _enqueue_rerun(review)
        elif review.callback_url:
            _enqueue_decided_callback(session, review)
    except ApiError as exc:
        # The target is refused now (its host became private, or no longer resolves). The decision
        # stands and the item says why the workflow was not called; retrying would not help.
        log.warning("review %s decided but its callback was refused: %s", review.id, exc.message)
        review.request_metadata = {**(review.request_metadata or {}), "callback_error": exc.message}
    except BaseException:
        session.rollback()
        raise
    session.commit()
    return review


def _conflict(review: Review) -> Conflict:
    when = _aware(review.decided_at).strftime("%Y-%m-%d %H:%M UTC") if review.decided_at else "earlier"
    return Conflict(f"review {review.id} was already decided ({review.action} by {review.decided_by or 'someone'} "
                    f"at {when}); your decision was not recorded and nothing was sent again", "review_id",
                    code="already_decided")


def callback_payload(review: Review) -> dict[str, Any]:
    """The ``review.decided`` callback body: the decided item plus ``event`` and ``job_id``."""
    payload = review_json(review)
    payload.update(event=DECIDED_EVENT, job_id=review.request_id, review_id=review.id, action=review.action,
                   output=review.final_text)
    return payload


def _enqueue_decided_callback(session: Session, review: Review) -> None:
    from app.execution.callbacks import enqueue_callback  # signed, SSRF-checked, delivered from the outbox

    enqueue_callback(review.callback_url, callback_payload(review), session=session, request_id=review.request_id,
                     review_id=review.id)


def _enqueue_rerun(review: Review) -> None:
    from app.execution.queue import get_queue

    get_queue().enqueue(RERUN_JOB, review.id, job_timeout=600)


# -- re-run on a higher tier ---------------------------------------------------------------------

def rerun_tier(review: Review, policy) -> str:
    """The tier a re-run uses: one above the item's tier, or the top tier when it is already there."""
    tier = review.tier if review.tier in policy.tiers else policy.tier_order[0]
    return policy.next_tier(tier) or policy.top_tier


def reopen_after_failed_rerun(app, review_id: str, exc: Exception) -> None:
    """A re-run that failed puts the item back in the queue, so its workflow is not left waiting forever."""
    with app.extensions["store"].session() as session:
        review = session.get(Review, review_id)
        if review is not None and review.status == "rerun" and not (review.request_metadata or {}).get("rerun_review_id"):
            review.status, review.action, review.decided_by, review.decided_at = "pending", None, None, None
            review.request_metadata = {**(review.request_metadata or {}),
                                       "rerun_error": f"{type(exc).__name__}: {exc}"[:500]}


class RerunFailed(TiergateError):
    """A re-run produced no answer; its review item goes back to the queue with the reason."""


def rerun_review(app, review_id: str) -> dict[str, Any]:
    """Run the reviewed request's payload on the next tier and queue the new answer for review."""
    from app.tasks import runner as service
    from app.routing.state import current_policy

    store = app.extensions["store"]
    with store.session() as session:
        review = get_review(session, review_id)
        done = (review.request_metadata or {}).get("rerun_review_id")
        if done:  # the job ran before (RQ re-ran it after a worker died): never pay for it twice
            return {"review_id": done, "request_id": None, "tier": None}
        request = session.get(Request, review.request_id) if review.request_id else None
        if request is None or "decision" not in (request.payload or {}):
            raise NotFound(f"review {review_id} has no stored fallback request to re-run", "review_id")
        tier = rerun_tier(review, current_policy())
        payload, api_key_id = dict(request.payload), request.api_key_id
        original = request.parent_request_id if request.kind == "rerun" else request.id  # a re-run of a re-run
    from app.execution.runtime import runtime_of

    answer = service.rerun_at_tier(runtime_of(app), payload, tier, api_key_id=api_key_id, parent_request_id=original)
    if answer.get("status") == "failed":  # no answer to review (a provider outage): the item goes back
        raise RerunFailed(f"the re-run on {tier} failed: {answer.get('error')}")
    with store.session() as session:
        old = session.get(Review, review_id)
        reasons = list(answer.get("review_reasons") or []) + [
            {"rule": "rerun", "detail": f"re-run of {review_id} on {tier}, asked by {old.decided_by}"}]
        new = Review(kind="draft", status="pending", request_id=answer["request_id"], task_type=old.task_type,
                     tier=answer.get("tier") or tier, reasons=reasons, input_text=old.input_text,
                     draft=_as_text(answer.get("output")), callback_url=old.callback_url,
                     request_metadata={**(old.request_metadata or {}), "rerun_of": review_id})
        session.add(new)
        session.flush()
        old.request_metadata = {**(old.request_metadata or {}), "rerun_review_id": new.id}
        return {"review_id": new.id, "request_id": answer["request_id"], "tier": new.tier}


def _as_text(output: Any) -> str | None:
    if output is None or isinstance(output, str):
        return output
    return json.dumps(output, ensure_ascii=False, indent=2)
