"""API keys as stored: issued once in plain text, kept as a hash, revoked for every process at once.

Checking a presented key on a request is the API layer's (``app.api.auth``); issuing and revoking is
an operator's, from the CLI or the admin pages.
"""
from __future__ import annotations

import hashlib
import secrets

from redis import Redis
from sqlalchemy.orm import Session

from app.errors import InvalidField
from app.store import ApiKey, utcnow

SCOPES = ("route", "classify", "fallback", "review", "gateway", "admin")
KEY_PREFIX = "tg_"
# Every key change bumps this Redis counter; each process caches key lookups tagged with the counter,
# so a webhook costs one Redis GET instead of a SQL query, and a revocation takes effect at once.
KEY_GENERATION = "tiergate:api-keys:generation"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def parse_scopes(text: str) -> list[str]:
    scopes = [scope.strip() for scope in text.split(",") if scope.strip()]
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown or not scopes:
        raise InvalidField(f"unknown scope(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(SCOPES)}", "scopes")
    return scopes


def create_key(session: Session, name: str, scopes: list[str]) -> tuple[ApiKey, str]:
    """Store a new key; the plain key is returned once and never stored."""
    plain = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(name=name, prefix=plain[:10], key_hash=hash_key(plain), scopes=",".join(scopes))
    session.add(key)
    session.flush()
    return key, plain


def revoke_key(session: Session, key_id: int, redis_client: Redis | None = None) -> bool:
    """Mark a key revoked and tell every process to drop its cached lookups."""
    key = session.get(ApiKey, key_id)
    if key is None or key.revoked_at is not None:
        return False
    key.revoked_at = utcnow()
    session.flush()
    if redis_client is not None:
        redis_client.incr(KEY_GENERATION)
    return True
