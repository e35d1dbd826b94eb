"""``Idempotency-Key``: a retried webhook gets the first answer and never pays for a model twice.

The claim is one Redis ``SET NX`` per (API key, Idempotency-Key) holding the body's hash and the
request id, with the configured TTL: atomic across web processes, so two copies of the same webhook
arriving together still run once. The same key with a different body is a 409, because silently
answering a different question with the first answer would be worse than refusing.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from redis import Redis

from app.errors import Conflict

HEADER = "Idempotency-Key"
KEY_PREFIX = "tiergate:idempotency"
MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class Claim:
    key: str
    body_hash: str
    request_id: str
    first: bool  # True: this request runs; False: replay the answer of ``request_id``


def body_hash(body: dict[str, Any]) -> str:
    """A stable hash of the request fields (key order and JSON-vs-form encoding do not matter)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def claim(redis: Redis, api_key_id: int | None, key: str, digest: str, request_id: str, ttl_seconds: int) -> Claim:
    """Claim ``key`` for ``request_id``, or find who holds it; Conflict when the body differs."""
    key = key.strip()[:MAX_KEY_LENGTH]
    redis_key = f"{KEY_PREFIX}:{api_key_id or 0}:{key}"
    value = f"{digest}:{request_id}"
    if redis.set(redis_key, value, nx=True, ex=ttl_seconds):
        return Claim(key, digest, request_id, True)
    held = redis.get(redis_key)
    if held is None:  # expired between the two calls: claim again
        return claim(redis, api_key_id, key, digest, request_id, ttl_seconds)
    held_hash, _, held_request = (held.decode() if isinstance(held, bytes) else held).partition(":")
    if held_hash != digest:
        raise Conflict(f"Idempotency-Key {key!r} was already used with a different request body "
                       f"(request {held_request}); use a new key for a new request", HEADER,
                       code="idempotency_conflict")
    return Claim(key, digest, held_request, False)


def release(redis: Redis, api_key_id: int | None, key: str) -> None:
    """Drop a claim whose request was refused before it was stored, so a corrected retry can run."""
    redis.delete(f"{KEY_PREFIX}:{api_key_id or 0}:{key.strip()[:MAX_KEY_LENGTH]}")
