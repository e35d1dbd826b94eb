"""The callback outbox: every callback is a database row written with the answer it carries.

A callback is never a fire-and-forget message in Redis: it is written in the same transaction as the
outcome (``add``), delivered right after the commit by the process that wrote it (``kick``), and
picked up by the sweeper if that process died first (``deliver_due``). Each try claims the row with a
conditional UPDATE, so two processes never send the same callback at once; a try whose outcome is lost
(its process died mid-POST, the receiver answered after the timeout) is sent again, so delivery is at
least once, and every try carries the same delivery id for the receiver to de-duplicate by. A receiver that keeps
failing is retried with backoff (``RETRY_INTERVALS_SECONDS``) and then marked ``dead``; dead
deliveries show on ``GET /v1/jobs/<id>`` and the reports page instead of vanishing.
"""
from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any, Iterable

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from app.execution.callbacks import CallbackRefused, deliver as post_signed
from app.store import Delivery, Store, utcnow

log = logging.getLogger(__name__)

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
# Backoff between tries, seconds: a receiver restarting, then one down for a while (about 1.5 h in all).
RETRY_INTERVALS_SECONDS = (10, 60, 300, 1800, 3600)
MAX_TRIES = len(RETRY_INTERVALS_SECONDS) + 1
# A claimed try that never reports back (its process died mid-POST) is tried again after this long.
CLAIM_SECONDS = 60
DUE_BATCH = 200


def add(session: Session, url: str, payload: dict[str, Any], *, request_id: str | None = None,
        review_id: str | None = None) -> Delivery:
    """Put one callback in the outbox, in the caller's transaction (committed with the outcome)."""
    delivery = Delivery(url=url, payload=payload, event=str(payload.get("event") or "job.finished"),
                        request_id=request_id, review_id=review_id, status=PENDING, attempts=0,
                        next_attempt_at=utcnow())
    session.add(delivery)
    session.flush()
    return delivery


def insert(connection: Connection, url: str, payload: dict[str, Any], *, request_id: str | None = None,
           review_id: str | None = None) -> int:
    """``add`` as a plain INSERT in ``connection``'s transaction (the outcome's, on the hot path); its id."""
    return connection.execute(_INSERT_DELIVERY, dict(
        url=url, payload=payload, event=str(payload.get("event") or "job.finished"), request_id=request_id,
        review_id=review_id, status=PENDING, attempts=0, next_attempt_at=utcnow())).inserted_primary_key[0]


_INSERT_DELIVERY = Delivery.__table__.insert()


def kick(store: Store, settings, delivery_ids: Iterable[int]) -> None:
    """Deliver now, in the background (a greenlet under gevent): the caller's answer never waits for it."""
    ids = list(delivery_ids)
    if ids:
        threading.Thread(target=_deliver_all, args=(store, settings, ids), daemon=True,
                         name="tiergate-callback").start()


def _deliver_all(store: Store, settings, ids: list[int]) -> None:
    for delivery_id in ids:
        try:
            deliver(store, settings, delivery_id)
        except Exception:  # the sweeper tries again; never let a callback take the process down
            log.exception("callback %s: delivery try failed", delivery_id)


def deliver(store: Store, settings, delivery_id: int) -> str | None:
    """One try of one due delivery; returns its new status, or None when it was not due or not ours."""
    now = utcnow()
    with store.session() as session:
        claimed = session.execute(
            update(Delivery).where(Delivery.id == delivery_id, Delivery.status == PENDING,
                                   Delivery.next_attempt_at <= now)
            .values(attempts=Delivery.attempts + 1, next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS))
            .execution_options(synchronize_session=False)).rowcount
        if not claimed:
            return None
        row = session.execute(select(Delivery.url, Delivery.payload, Delivery.attempts)
                              .where(Delivery.id == delivery_id)).one()
    try:
        if row.url.startswith("mailto:"):  # an e-mail notification (app.notify.notifications), same retries
            from app.execution.mail import send_mail

            send_mail(row.url, row.payload, settings)
        else:
            post_signed(row.url, row.payload, settings.callback_secret, settings.allowed_callback_hosts, delivery_id)
    except CallbackRefused as exc:  # the target became non-public: retrying would not help
        return _record(store, delivery_id, DEAD, str(exc))
    except Exception as exc:
        if row.attempts >= MAX_TRIES:
            return _record(store, delivery_id, DEAD, _describe(exc))
        wait = RETRY_INTERVALS_SECONDS[min(row.attempts, MAX_TRIES - 1) - 1]
        return _record(store, delivery_id, PENDING, _describe(exc), retry_in=wait)
    return _record(store, delivery_id, DELIVERED, None)


def _record(store: Store, delivery_id: int, status: str, error: str | None, retry_in: float = 0) -> str:
    values: dict[str, Any] = {"status": status, "last_error": error}
    if status == DELIVERED:
        values["delivered_at"] = utcnow()
    if status == PENDING:
        values["next_attempt_at"] = utcnow() + timedelta(seconds=retry_in)
    with store.session() as session:
        session.execute(update(Delivery).where(Delivery.id == delivery_id).values(**values)
                        .execution_options(synchronize_session=False))
    if status != DELIVERED:
        log.warning("callback %s %s: %s", delivery_id, "gave up" if status == DEAD else "will retry", error)
    return status


def _describe(exc: BaseException) -> str:
    # Never the URL: n8n resume URLs carry their token in it, and this text reaches logs and the API.
    return f"{type(exc).__name__}: {exc}"[:500]


def due(store: Store, limit: int = DUE_BATCH) -> list[int]:
    with store.session() as session:
        return list(session.scalars(select(Delivery.id).where(Delivery.status == PENDING,
                                                              Delivery.next_attempt_at <= utcnow())
                                    .order_by(Delivery.next_attempt_at).limit(limit)))


def deliver_due(store: Store, settings, limit: int = DUE_BATCH) -> int:
    """Try every due delivery (the sweeper's safety net); returns how many were tried."""
    ids = due(store, limit)
    threads = [threading.Thread(target=_deliver_all, args=(store, settings, [i]), daemon=True) for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(ids)


def summary(session: Session, request_id: str) -> list[dict[str, Any]]:
    """The request's callbacks as the jobs API shows them (never their URL)."""
    rows = session.execute(select(Delivery.event, Delivery.status, Delivery.attempts, Delivery.last_error,
                                  Delivery.delivered_at).where(Delivery.request_id == request_id)
                           .order_by(Delivery.id)).all()
    return [{"event": r.event, "status": r.status, "attempts": r.attempts, "last_error": r.last_error,
             "delivered_at": r.delivered_at.isoformat() if r.delivered_at else None} for r in rows]


def dead_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Delivery).where(Delivery.status == DEAD)) or 0
