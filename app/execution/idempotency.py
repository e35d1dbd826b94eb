"""``Idempotency-Key``: a retried webhook gets the first answer and never pays for a model twice.

Checked in the database, not in Redis: the request row carries the key under a unique index on
(API key, Idempotency-Key), so two copies of the same webhook arriving together still store one
request, and a Redis restart or flush cannot make a retry pay again. The same key with a different
body is a 409, because silently answering a different question with the first answer would be worse
than refusing. A key older than ``TIERGATE_IDEMPOTENCY_TTL_SECONDS`` may be used again for a new request.
"""
from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.errors import Conflict
from app.store import Request, utcnow

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200


def body_hash(body: dict[str, Any]) -> str:
    """A stable hash of the request fields (key order and JSON-vs-form encoding do not matter)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def normalised(header: str | None) -> str | None:
    key = (header or "").strip()[:MAX_KEY_LENGTH]
    return key or None


def store_once(committer, session: Session, rows: list, request: Request, ttl_seconds: int) -> str | None:
    """Insert ``rows`` (``(table, row)``, the request's own row last) through ``committer`` (a group
    commit, ``app.store.group_commit``); or, when the request's Idempotency-Key was used before with the
    same body, store nothing and return the earlier request's id.

    Raises Conflict when the key was used with a different body.
    """
    for _try in range(2):
        try:
            committer.write(rows=rows)
            return None
        except IntegrityError:
            if request.idempotency_key is None:
                raise
        earlier = session.execute(select(Request.id, Request.idempotency_hash, Request.created_at)
                                  .where(Request.api_key_id == request.api_key_id,
                                         Request.idempotency_key == request.idempotency_key)).first()
        session.commit()  # no read transaction left open while the next try writes
        if earlier is None:
            continue  # released meanwhile: try again
        if _aware(earlier.created_at) < utcnow() - timedelta(seconds=ttl_seconds):
            session.execute(update(Request).where(Request.id == earlier.id).values(idempotency_key=None)
                            .execution_options(synchronize_session=False))
            session.commit()
            continue
        if earlier.idempotency_hash != request.idempotency_hash:
            raise Conflict(f"Idempotency-Key {request.idempotency_key!r} was already used with a different request "
                           f"body (request {earlier.id}); use a new key for a new request", HEADER,
                           code="idempotency_conflict")
        return earlier.id
    raise Conflict(f"Idempotency-Key {request.idempotency_key!r} is being used by another request", HEADER,
                   code="idempotency_conflict")


def _aware(moment):
    from datetime import timezone

    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
