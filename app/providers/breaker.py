"""A circuit breaker per model, shared by every process through Redis.

closed -> (``failures`` failed calls in a row) -> open for ``open_seconds`` -> half-open: exactly one
probe call goes through (``SET NX``), the rest keep waiting. A probe that succeeds closes the circuit;
one that fails opens it again for twice as long, up to ``MAX_OPEN_SECONDS``.

Only the probe's own failure escalates. Calls let through while the circuit was still closed are in
flight when it opens (with their SDK retries) and fail moments later for the same outage; counting each
as a failed probe re-armed the circuit up to the 30 s maximum after a 3 s blip. The probe is known by a
token: the caller that took it holds the token (in a context variable: per thread and per greenlet,
patched or not) and Redis holds it under the probe key; a failure whose caller holds no matching token while the circuit is
tripped is ignored.

A fixed 60 s cooldown outlasted short provider outages and failed requests sent after recovery; the
half-open probe finds the recovery within seconds. Failures here are what is left after the SDK's own
retries (one retry layer: the SDK's for single calls, this one across calls).

Redis trouble never blocks a model call: without Redis the breaker is closed.
"""
from __future__ import annotations

import contextlib
import contextvars
import logging
import time
import uuid
from typing import Iterator

from redis import Redis, RedisError

log = logging.getLogger(__name__)

KEY_PREFIX = "tiergate:breaker"
DEFAULT_FAILURES = 3
DEFAULT_OPEN_SECONDS = 5.0
MAX_OPEN_SECONDS = 30.0
# A probe that never reports back (its process died) frees the slot after this long.
PROBE_TIMEOUT_SECONDS = 60.0
STATE_TTL_SECONDS = 3600

# The keys that say a model's circuit is not simply closed; none of them set: closed, no failure counted.
STATE_PARTS = ("open", "trips", "failures")
# How long a request may go by what it read of the circuits at its start (``seen``) instead of asking
# Redis before a call: a circuit that opened meanwhile lets that call through, like one already in flight.
SEEN_FRESH_SECONDS = 0.5

# The probe tokens this caller holds, by (breaker, model); replaced, never mutated, so contexts
# that were copied from one another never share a token.
_HELD_PROBES: contextvars.ContextVar[dict[tuple[int, str], str]] = contextvars.ContextVar("held_probes", default={})


class Seen:
    """What a request read of some models' circuits (``CircuitBreaker.seen``), for its first call to each."""

    __slots__ = ("breaker", "at", "closed")

    def __init__(self, breaker: int, at: float, closed: dict[str, bool]):
        self.breaker, self.at, self.closed = breaker, at, closed  # ``id`` of the breaker, ``time.monotonic()``

    def without(self, model: str) -> "Seen":
        return Seen(self.breaker, self.at, {name: closed for name, closed in self.closed.items() if name != model})


# The circuits as this request read them; replaced, never mutated, like ``_HELD_PROBES``.
_SEEN: contextvars.ContextVar[Seen | None] = contextvars.ContextVar("circuits_seen", default=None)


def circuits_seen() -> Seen | None:
    """The circuits this request read (to hand to the greenlet that makes its calls, ``circuits_read``)."""
    return _SEEN.get()


@contextlib.contextmanager
def circuits_read(seen: Seen | None) -> Iterator[None]:
    """Within the block, a model's first ``acquire`` takes its circuit as ``seen`` read it (when that was
    closed, and no older than ``SEEN_FRESH_SECONDS``) instead of asking Redis."""
    reset = _SEEN.set(seen)
    try:
        yield
    finally:
        _SEEN.reset(reset)


class CircuitBreaker:
    def __init__(self, redis: Redis, failures: int = DEFAULT_FAILURES, open_seconds: float = DEFAULT_OPEN_SECONDS,
                 prefix: str = KEY_PREFIX):
        self.redis = redis
        self.failures = failures
        self.open_seconds = open_seconds
        self.prefix = prefix
        self._dirty: dict[str, bool] = {}  # per model: may Redis hold failure state to clear?
        self._state_keys: dict[tuple[str, ...], list[str]] = {}

    @classmethod
    def from_settings(cls, redis: Redis, settings) -> "CircuitBreaker":
        return cls(redis, settings.cooldown_failures, settings.cooldown_seconds)

    def _key(self, model: str, part: str) -> str:
        return f"{self.prefix}:{model}:{part}"

    def state_keys(self, models: tuple[str, ...]) -> list[str]:
        """The keys to read for ``seen`` (e.g. in a request's first Redis round trip, beside its key's)."""
        keys = self._state_keys.get(models)
        if keys is None:
            keys = self._state_keys[models] = [self._key(model, part) for model in models for part in STATE_PARTS]
        return keys

    def seen(self, models: tuple[str, ...], values: list) -> Seen:
        """``values`` of ``state_keys(models)``, as read: which circuits were closed with no failure counted."""
        width = len(STATE_PARTS)
        return Seen(id(self), time.monotonic(),
                    {model: not any(values[at * width:(at + 1) * width]) for at, model in enumerate(models)})

    def _closed_as_seen(self, model: str) -> bool:
        """Did this request read ``model``'s circuit closed and clean just now? Used once per model: a
        second call (a retry after a failure that opened the circuit) asks Redis."""
        seen = _SEEN.get()
        if seen is None or seen.breaker != id(self) or not seen.closed.get(model):
            return False
        _SEEN.set(seen.without(model))
        return time.monotonic() - seen.at <= SEEN_FRESH_SECONDS

    def remaining(self, model: str) -> float:
        """Seconds until ``model`` may be tried again (0: closed, or half-open with the probe free)."""
        if self.open_seconds <= 0:
            return 0.0
        try:
            ttl_ms = self.redis.pttl(self._key(model, "open"))
            if ttl_ms and ttl_ms > 0:
                return ttl_ms / 1000
            if self.redis.exists(self._key(model, "probe")):
                return 0.5  # someone is probing: look again shortly
        except RedisError:
            return 0.0
        return 0.0

    def acquire(self, model: str) -> bool:
        """May this call go? Closed: yes. Open: no. Half-open: only the one caller that takes the probe."""
        if self.open_seconds <= 0:
            return True
        if self._closed_as_seen(model):  # read with the request's first round trip: no call of its own
            self._dirty[model] = False
            self._drop_probe(model)
            return True
        try:
            # The common case, closed with no failure counted: one EXISTS over the three keys.
            if not self.redis.exists(*(self._key(model, part) for part in STATE_PARTS)):
                self._dirty[model] = False
                self._drop_probe(model)
                return True
            with self.redis.pipeline(transaction=False) as pipe:
                pipe.pttl(self._key(model, "open"))
                pipe.exists(self._key(model, "trips"))
                pipe.exists(self._key(model, "failures"))
                open_ms, tripped, failing = pipe.execute()
            self._dirty[model] = bool(tripped or failing)
            self._drop_probe(model)  # whatever this caller probed before is over
            if open_ms > 0:
                return False
            if not tripped:
                return True  # closed
            token = uuid.uuid4().hex
            if not self.redis.set(self._key(model, "probe"), token, nx=True, px=int(PROBE_TIMEOUT_SECONDS * 1000)):
                return False
            _HELD_PROBES.set({**_HELD_PROBES.get(), (id(self), model): token})
            return True
        except RedisError:
            return True

    def _drop_probe(self, model: str) -> str | None:
        """Forget (and return) the probe token this caller holds for ``model``."""
        held = _HELD_PROBES.get()
        token = held.get((id(self), model))
        if token is not None:
            _HELD_PROBES.set({key: value for key, value in held.items() if key != (id(self), model)})
        return token

    def release(self, model: str) -> None:
        """Give back the probe this caller took without calling the model (its budget said no, or its
        spend cap): the next caller probes at once instead of after ``PROBE_TIMEOUT_SECONDS``."""
        token = self._drop_probe(model)
        if token is None:
            return
        try:
            if self._is_probe(model, token):
                self.redis.delete(self._key(model, "probe"))
        except RedisError:
            pass

    def _is_probe(self, model: str, token: str | None) -> bool:
        """Does this caller hold the half-open circuit's probe for ``model``?"""
        if token is None:
            return False
        held = self.redis.get(self._key(model, "probe"))
        return (held.decode() if isinstance(held, bytes) else held) == token

    def record_failure(self, model: str) -> bool:
        """Count a failed call; True when this one opens the circuit."""
        if self.open_seconds <= 0:
            return False
        self._dirty[model] = True
        token = self._drop_probe(model)
        try:
            trips = int(self.redis.get(self._key(model, "trips")) or 0)
            if trips:
                if not self._is_probe(model, token):
                    # Let through before the circuit opened: the outage is already counted.
                    log.debug("circuit for %s already open; a call from before it opened failed", model)
                    return False
                return self._open(model, trips + 1)  # the failed probe: open again, for longer
            count = self.redis.incr(self._key(model, "failures"))
            self.redis.expire(self._key(model, "failures"), STATE_TTL_SECONDS)
            return self._open(model, 1) if count >= self.failures else False
        except RedisError:
            return False

    def _open(self, model: str, trips: int) -> bool:
        seconds = min(self.open_seconds * 2 ** (trips - 1), MAX_OPEN_SECONDS)
        with self.redis.pipeline() as pipe:
            pipe.set(self._key(model, "open"), str(time.time()), px=max(int(seconds * 1000), 1))
            pipe.set(self._key(model, "trips"), trips, ex=STATE_TTL_SECONDS)
            pipe.delete(self._key(model, "failures"), self._key(model, "probe"))
            pipe.execute()
        log.warning("circuit for %s open for %.0f s (trip %d)", model, seconds, trips)
        return True

    def record_success(self, model: str) -> None:
        """A success closes the circuit and clears the count: only failures in a row open it."""
        self._drop_probe(model)
        if not self._dirty.get(model, True):
            return  # nothing to clear (seen by this call's ``acquire``): save the round trip
        try:
            self.redis.delete(*(self._key(model, part) for part in ("failures", "trips", "probe", "open")))
            self._dirty[model] = False
        except RedisError:
            pass

    def describe(self, model: str) -> str:
        """The circuit's state in words, for an answer that names why a model was not called."""
        left = self.remaining(model)
        if left <= 0:
            return f"{model} is reachable again"
        return f"{model} is unavailable (circuit open after repeated failures; next try in {left:.0f} s)"

    def clear(self, model: str) -> None:
        self.record_success(model)
