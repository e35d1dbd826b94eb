"""API keys: created from the command line, stored as SHA-256 hashes, scoped per integration.

Keys are 32 random bytes, so a plain SHA-256 is a safe hash for them (a slow password hash buys
nothing against a key with that much entropy, and would cost milliseconds on every webhook).
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from functools import wraps

from flask import g, request
from redis import Redis, RedisError
from sqlalchemy import select

from app.admin.keys import (KEY_GENERATION, KEY_PREFIX, SCOPES, create_key, hash_key,  # noqa: F401  (re-exported)
                            parse_scopes, revoke_key)
from app.errors import Forbidden, Unauthorized
from app.money.budget_view import GENERATION_KEY as BUDGET_GENERATION, generation_read
from app.providers.breaker import circuits_read
from app.store import ApiKey
from app.web.context import runtime

KEY_CACHE_MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class KeyIdentity:
    """What a request needs to know about its key, safe to cache."""

    id: int
    name: str
    scope_set: frozenset[str]


_key_cache: dict[str, tuple[bytes | None, KeyIdentity | None]] = {}
_UNREAD = object()


def presented_key() -> str | None:
    """The key the request presents: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``.

    An ``Authorization`` header that is not a Bearer key is refused even beside a valid ``X-API-Key``:
    a credential we cannot read is a client mistake to name, not one to ignore.
    """
    header = request.headers.get("Authorization", "").strip()
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthorized("the Authorization header must be 'Bearer <key>'; send the key there or in "
                               "'X-API-Key', not both a key and another credential", "Authorization")
        return value.strip()
    return request.headers.get("X-API-Key", "").strip() or None


def authenticate(scope: str) -> ApiKey:
    """The request's key if it exists, is not revoked and carries ``scope`` (admin carries all)."""
    key = authenticate_any()
    if scope not in key.scope_set and "admin" not in key.scope_set:
        raise Forbidden(f"this API key lacks the '{scope}' scope", "Authorization")
    return key


def authenticate_any() -> KeyIdentity:
    """The request's key if it exists and is not revoked, whatever its scopes (read-only lookups)."""
    plain = presented_key()
    if not plain:
        raise Unauthorized("missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'", "Authorization")
    key = _lookup(hash_key(plain))
    if key is None:
        raise Unauthorized("invalid or revoked API key", "Authorization")
    return key


def _lookup(key_hash: str) -> KeyIdentity | None:
    rt = runtime()
    redis, breaker = rt.redis, rt.breaker
    models = _tier_models(rt.policy())
    try:
        # The budgets' generation and the tiers' circuits come in the same round trip: the request's
        # budget look-ups and its first call to each tier's model take them instead of asking Redis.
        generation, g.budget_generation, *circuits = redis.mget(KEY_GENERATION, BUDGET_GENERATION,
                                                                *breaker.state_keys(models))
        g.circuits_seen = breaker.seen(models, circuits)
        redis_up = True
    except RedisError:  # Redis is only the fast path: ask the database, and cache nothing meanwhile
        generation, redis_up = None, False
    cached = _key_cache.get(key_hash)
    if redis_up and cached is not None and cached[0] == generation:
        return cached[1]
    # A session of its own, closed at once: the request's session would keep the connection while the
    # request goes on to need another (budgets, the shared commit), and a crowd of them drains the pool.
    with runtime().store.session() as session:
        row = session.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash))
        identity = (KeyIdentity(row.id, row.name, frozenset(row.scope_set))
                    if row is not None and row.revoked_at is None else None)
    if not redis_up:
        return identity
    if len(_key_cache) >= KEY_CACHE_MAX_ENTRIES:
        _key_cache.clear()
    _key_cache[key_hash] = (generation, identity)
    return identity


def _tier_models(policy) -> tuple[str, ...]:
    """The models of the policy's tiers, in a stable order (the circuits a request reads at its start)."""
    models = _TIER_MODELS.get(id(policy))
    if models is None or models[0] is not policy:
        if len(_TIER_MODELS) >= 64:  # policies replaced over time
            _TIER_MODELS.clear()
        models = _TIER_MODELS[id(policy)] = (policy, tuple(sorted({tier.model for tier in policy.tiers.values()})))
    return models[1]


_TIER_MODELS: dict[int, tuple[object, tuple[str, ...]]] = {}


def require_scope(scope: str):
    """Decorator for API views: authenticate and put the key on ``g.api_key``."""
    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            g.api_key = authenticate(scope)
            read = g.pop("budget_generation", _UNREAD)
            with nullcontext() if read is _UNREAD else generation_read(runtime().redis, read), \
                    circuits_read(g.pop("circuits_seen", None)):
                return view(*args, **kwargs)
        return wrapper
    return decorator
