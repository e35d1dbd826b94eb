"""Callbacks that did not get through, as an operator sees them: failing ones (still retried) and dead
ones (given up after the outbox's last try), and a manual *retry* once the receiver is fixed.

The outbox (``app.execution.outbox``) owns delivery; this module only reads its rows and puts one back in line.
Never the URL in full: n8n resume URLs carry their token in it, so the pages show the host only.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from app.errors import Conflict, NotFound
from app.execution.outbox import DEAD, PENDING
from app.store import Delivery, utcnow

LIST_LIMIT = 200


@dataclass(frozen=True)
class TroubledCallback:
    """One callback that failed at least once and was not delivered since."""

    id: int
    event: str
    status: str  # pending (still retried) | dead (given up)
    host: str
    attempts: int
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime | None
    request_id: str | None
    review_id: str | None


def troubled(session: Session, limit: int = LIST_LIMIT) -> list[TroubledCallback]:
    """Dead callbacks and those still being retried after a failure, newest first."""
    rows = session.scalars(select(Delivery).where(or_(Delivery.status == DEAD, and_(
        Delivery.status == PENDING, Delivery.attempts > 0, Delivery.last_error.is_not(None))))
        .order_by(Delivery.id.desc()).limit(limit))
    return [TroubledCallback(row.id, row.event, row.status, _receiver(row.url), row.attempts,
                             row.last_error, row.created_at, row.next_attempt_at if row.status == PENDING else None,
                             row.request_id, row.review_id) for row in rows]


def _receiver(url: str) -> str:
    """The host a callback goes to, or the addresses of an e-mail notification."""
    if url.startswith("mailto:"):
        return "e-mail to " + url[len("mailto:"):]
    return urlsplit(url).hostname or "?"


def retry(session: Session, delivery_id: int) -> None:
    """Put a dead or failing callback back in line for a try now, with a fresh set of retries.

    The caller kicks the delivery after committing (``outbox.kick``); the sweeper would pick it up anyway.
    """
    row = session.get(Delivery, delivery_id)
    if row is None:
        raise NotFound(f"no callback {delivery_id}")
    if row.status not in (DEAD, PENDING):
        raise Conflict(f"callback {delivery_id} was already delivered")
    session.execute(update(Delivery).where(Delivery.id == delivery_id, Delivery.status.in_((DEAD, PENDING)))
                    .values(status=PENDING, attempts=0, next_attempt_at=utcnow())
                    .execution_options(synchronize_session=False))
