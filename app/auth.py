"""API keys: created from the command line, stored as SHA-256 hashes, scoped per integration.

Keys are 32 random bytes, so a plain SHA-256 is a safe hash for them (a slow password hash buys
nothing against a key with that much entropy, and would cost milliseconds on every webhook).
"""
from __future__ import annotations

import hashlib
import secrets
from functools import wraps

from flask import g, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import Forbidden, InvalidField, Unauthorized
from app.store import ApiKey, db, utcnow

SCOPES = ("route", "classify", "fallback", "review", "admin")
KEY_PREFIX = "tg_"


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


def revoke_key(session: Session, key_id: int) -> bool:
    key = session.get(ApiKey, key_id)
    if key is None or key.revoked_at is not None:
        return False
    key.revoked_at = utcnow()
    return True


def presented_key() -> str | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return request.headers.get("X-API-Key", "").strip() or None


def authenticate(scope: str) -> ApiKey:
    """The request's key if it exists, is not revoked and carries ``scope`` (admin carries all)."""
    plain = presented_key()
    if not plain:
        raise Unauthorized("missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'", "Authorization")
    key = db().scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(plain)))
    if key is None or key.revoked_at is not None:
        raise Unauthorized("invalid or revoked API key", "Authorization")
    if scope not in key.scope_set and "admin" not in key.scope_set:
        raise Forbidden(f"this API key lacks the '{scope}' scope", "Authorization")
    return key


def require_scope(scope: str):
    """Decorator for API views: authenticate and put the key on ``g.api_key``."""
    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            g.api_key = authenticate(scope)
            return view(*args, **kwargs)
        return wrapper
    return decorator
