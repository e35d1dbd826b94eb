"""The life of a stored request, and the one place that moves it from state to state.

::

    queued ──claim──> running ──finish──> done | needs_review | failed
      ^                  │                      │
      └──requeue─────────┘                      └─> its callback waits in the outbox (app.execution.outbox)

- **queued**: stored and acknowledged. ``lease_until`` is when the sweeper checks that the queue
  (Redis) still holds its job; if Redis lost it (a restart, a flush, an outage at enqueue time), the
  sweeper queues it again. The database is the source of truth; Redis is the fast path.
- **running**: one process (``owner``) runs it and renews ``lease_until`` every few seconds. A web
  process runs a sync request itself, so the answer costs no queue round trip; a worker runs queued
  ones. If the owner dies, its lease runs out and the request is claimed again (by a worker, once the
  sweeper has queued it); the model call the dead process had in flight is written to the ledger as an
  attempt of unknown outcome at its estimated cost (``app.execution.inflight.InFlightCalls``).
- **done / needs_review / failed**: the answer is stored in the same transaction as its attempts,
  its review item and its callback.

Every move is a conditional UPDATE, so two processes can never both run or both finish a request.
"""
from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from app.store import Request, utcnow
from app.store.models import column_row
from app.store.prepared import Prepared

QUEUED, RUNNING = "queued", "running"
TERMINAL = ("done", "needs_review", "failed")
# A running request's lease, renewed every LEASE_RENEW_SECONDS by its owner. A dead owner's request is
# running again within about LEASE_SECONDS + the sweep interval (under a minute).
LEASE_SECONDS = 30
LEASE_RENEW_SECONDS = 10
# How long a queued request may wait before the sweeper checks that the queue still holds its job.
QUEUE_CHECK_SECONDS = 30


def process_owner() -> str:
    """This process's name as a lease owner: host, pid and a per-start token (pids are reused)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{_BOOT}"


_BOOT = uuid.uuid4().hex[:8]


def lease(seconds: float = LEASE_SECONDS) -> datetime:
    return utcnow() + timedelta(seconds=seconds)


@dataclass(frozen=True)
class Claimed:
    """A request this process now runs."""

    request_id: str
    kind: str
    payload: dict[str, Any]
    recovered: bool  # its previous owner died while running it


def claim(session: Session, request_id: str, owner: str) -> Claimed | None:
    """Take a queued request (or one whose owner's lease ran out); None when it is not ours to run."""
    row = session.execute(select(Request.status, Request.kind, Request.payload, Request.lease_until)
                          .where(Request.id == request_id)).first()
    if row is None or row.status not in (QUEUED, RUNNING):
        return None
    now = utcnow()
    if row.status == RUNNING and (row.lease_until is None or _aware(row.lease_until) > now):
        return None
    condition = [Request.id == request_id, Request.status == row.status]
    if row.status == RUNNING:  # a rescue: only while the lease is still run out (two rescuers: one wins)
        condition.append(or_(Request.lease_until.is_(None), Request.lease_until < now))
    taken = session.execute(
        update(Request).where(*condition).values(status=RUNNING, owner=owner, lease_until=lease(), error=None)
        .execution_options(synchronize_session=False)).rowcount
    session.commit()
    return Claimed(request_id, row.kind, row.payload, row.status == RUNNING) if taken else None


RENEW_BATCH = 500


def renew(session: Session, owner: str, request_ids: list[str]) -> int:
    """Extend the lease of the requests this process runs (a statement per 500, whatever their number)."""
    count = 0
    for start in range(0, len(request_ids), RENEW_BATCH):
        count += session.execute(update(Request).where(Request.owner == owner, Request.status == RUNNING,
                                                       Request.id.in_(request_ids[start:start + RENEW_BATCH]))
                                 .values(lease_until=lease()).execution_options(synchronize_session=False)).rowcount
    session.commit()
    return count


def finish(connection: Connection | Session, request_id: str, owner: str, values: dict[str, Any]) -> bool:
    """Store the outcome if this process still owns the request (it may have lost its lease).

    A plain UPDATE of the table (``values`` keyed by ``Request``'s attribute names), compiled once
    (``app.store.prepared``): the outcome is written on every request, and the ORM's bulk UPDATE, then
    ``Connection.execute``'s per-call work, cost more than the SQL.
    """
    params = {"_request_id": request_id, "_owner": owner, "owner": None, "lease_until": None,
              **column_row(Request, values)}
    return _FINISH.run(connection, params).rowcount == 1


_REQUESTS = Request.__table__
_FINISH = Prepared(_REQUESTS.update().where(_REQUESTS.c.id == bindparam("_request_id"),
                                            _REQUESTS.c.owner == bindparam("_owner"), _REQUESTS.c.status == RUNNING))


def requeue(session: Session, request_id: str, owner: str | None, *, error: str | None = None,
            delay_seconds: float = 0) -> bool:
    """Hand a running request back to the queue (a retry after a crash, or waiting out a provider outage)."""
    condition = [Request.id == request_id, Request.status == RUNNING]
    if owner is not None:
        condition.append(Request.owner == owner)
    moved = session.execute(update(Request).where(*condition)
                            .values(status=QUEUED, owner=None, lease_until=lease(delay_seconds), error=error)
                            .execution_options(synchronize_session=False)).rowcount == 1
    session.commit()
    return moved


def overdue(session: Session, kinds: Iterable[str], limit: int = 500) -> list[tuple[str, str, str]]:
    """``(id, kind, status)`` of requests of ``kinds`` whose lease ran out: queued ones to check, running
    ones to rescue. Only kinds someone can resume, so rows nobody handles never fill the window."""
    now = utcnow()
    rows = session.execute(select(Request.id, Request.kind, Request.status)
                           .where(Request.status.in_((QUEUED, RUNNING)), Request.lease_until < now,
                                  Request.kind.in_(list(kinds)))
                           .order_by(Request.lease_until).limit(limit)).all()
    return [(row.id, row.kind, row.status) for row in rows]


def checked(session: Session, request_id: str) -> None:
    """A queued request whose job the queue does hold: look again later."""
    session.execute(update(Request).where(Request.id == request_id, Request.status == QUEUED)
                    .values(lease_until=lease(QUEUE_CHECK_SECONDS)).execution_options(synchronize_session=False))
    session.commit()


def _aware(moment: datetime) -> datetime:
    """SQLite hands datetimes back without their zone; every moment we store is UTC."""
    from datetime import timezone

    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
