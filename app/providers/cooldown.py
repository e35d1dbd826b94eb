"""Cool down a model that keeps failing, for every process at once.

State lives in Redis so that all web processes and workers agree: a failure counter per model that
expires after the window, and a cooldown marker whose TTL is the cooldown itself. ``cooldown_failures``
failures within ``window_seconds`` (default: the cooldown length) put the model on ice for
``cooldown_seconds``; its traffic goes to the next tier meanwhile, and the cascade records why.
"""
from __future__ import annotations

from redis import Redis

KEY_PREFIX = "tiergate:cooldown"


class Cooldown:
    def __init__(self, redis: Redis, failures: int = 3, cooldown_seconds: float = 60.0,
                 window_seconds: float | None = None, prefix: str = KEY_PREFIX):
        self.redis = redis
        self.failures = failures
        self.cooldown_ms = int(cooldown_seconds * 1000)
        self.window_ms = int((window_seconds or cooldown_seconds) * 1000)
        self.prefix = prefix

    @classmethod
    def from_settings(cls, redis: Redis, settings) -> "Cooldown":
        return cls(redis, settings.cooldown_failures, settings.cooldown_seconds)

    def _keys(self, model: str) -> tuple[str, str]:
        return f"{self.prefix}:failures:{model}", f"{self.prefix}:until:{model}"

    def record_failure(self, model: str) -> bool:
        """Count one failure; True when this one starts a cooldown."""
        if self.cooldown_ms <= 0:
            return False
        failures_key, until_key = self._keys(model)
        count = self.redis.incr(failures_key)
        if count == 1:
            self.redis.pexpire(failures_key, max(self.window_ms, 1))
        if count >= self.failures:
            self.redis.set(until_key, count, px=self.cooldown_ms)
            self.redis.delete(failures_key)
            return True
        return False

    def record_success(self, model: str) -> None:
        """A success clears the failure count: only failures in a row lead to a cooldown."""
        self.redis.delete(self._keys(model)[0])

    def remaining(self, model: str) -> float:
        """Seconds of cooldown left for ``model``; 0 when it may be called."""
        ttl_ms = self.redis.pttl(self._keys(model)[1])
        return ttl_ms / 1000 if ttl_ms and ttl_ms > 0 else 0.0

    def clear(self, model: str) -> None:
        self.redis.delete(*self._keys(model))
