"""Calls in flight: a Redis note of each model call from the moment it goes out until its outcome is
stored, so the process that rescues a request after a crash can put the paid call in the ledger at its
upper bound (``app.calls.call_upper_bound``: what its budgets held for it).
"""
from __future__ import annotations

import json
import threading
import time
import weakref
from decimal import Decimal

from redis import Redis, RedisError

from app.calls.attempt import AttemptRecord
from app.calls.guarded import call_upper_bound
from app.execution.sync import spawn
from app.pricing import PriceTable
from app.providers.base import ModelCall

IN_FLIGHT_KEY = "tiergate:inflight:{}"
IN_FLIGHT_TTL_SECONDS = 24 * 3600
LOST = "lost"
# How long the notes of stored requests (``forget``) wait to be removed together: one UNLINK per
# window for every request stored in it, instead of a DEL on each request's way to its answer.
FORGET_DELAY_SECONDS = 0.5


class InFlightCalls:
    """A call observer (``app.calls.CallObserver``) that keeps a Redis note of each call until it is stored."""

    def __init__(self, redis: Redis, request_id: str, prices: PriceTable, *, keep_until_stored: bool = True):
        self.redis, self.key, self.prices = redis, IN_FLIGHT_KEY.format(request_id), prices
        # A list's chunks are stored one by one, each right after its calls: their notes go when the call ends.
        self.keep_until_stored = keep_until_stored

    def before(self, call: ModelCall, bound: Decimal | None = None) -> None:
        """Note the call with ``bound``, its upper bound as the guards counted it (what its budgets hold,
        never less than billed); counted here when not given."""
        estimate = bound if bound is not None else call_upper_bound(self.prices, call)
        note = {"model": call.model, "tier": call.tier, "purpose": call.purpose, "estimate": str(estimate)}
        try:
            with self.redis.pipeline(transaction=False) as pipe:  # one round trip; no MULTI/EXEC needed
                pipe.hset(self.key, str(id(call)), json.dumps(note))
                pipe.expire(self.key, IN_FLIGHT_TTL_SECONDS)
                pipe.execute()
        except RedisError:  # the note is best effort; the call itself must not fail for it
            pass

    def after(self, call: ModelCall) -> None:
        """The call is over but not yet in the ledger: the note stays until the outcome is stored
        (``clear``), so a crash in between still leaves the paid call to be recorded."""
        if not self.keep_until_stored:
            try:
                self.redis.hdel(self.key, str(id(call)))
            except RedisError:
                pass

    def clear(self) -> None:
        try:
            self.redis.delete(self.key)
        except RedisError:
            pass

    def forget(self) -> None:
        """``clear``, a moment later and together with other requests' notes, off the request's path.

        Only for a request whose outcome is committed: nobody reads its note again (a rescue claims only
        a queued or running request), so a note whose removal a crash cut short only waits for its TTL.
        """
        _forgetter(self.redis).add(self.key)


class _Forgetter:
    """The notes of stored requests, removed in one UNLINK per ``FORGET_DELAY_SECONDS`` by a greenlet
    (a thread without gevent) that runs only while there is something to remove."""

    def __init__(self, redis: Redis):
        self._redis = weakref.ref(redis)  # a value of ``_FORGETTERS`` must not keep its key alive
        self._keys: list[str] = []
        self._lock = threading.Lock()
        self._running = False

    def add(self, key: str) -> None:
        with self._lock:
            self._keys.append(key)
            if self._running:
                return
            self._running = True
        spawn(self._run, name="tiergate-inflight-forget")

    def _run(self) -> None:
        while True:
            time.sleep(FORGET_DELAY_SECONDS)
            with self._lock:
                keys, self._keys = self._keys, []
                if not keys:
                    self._running = False
                    return
            redis = self._redis()
            try:
                if redis is not None:
                    redis.unlink(*keys)
            except RedisError:  # they expire (IN_FLIGHT_TTL_SECONDS); nobody reads a stored request's note
                pass


# One forgetter per Redis client (a process has one; tests build many, and let them go).
_FORGETTERS: "weakref.WeakKeyDictionary[Redis, _Forgetter]" = weakref.WeakKeyDictionary()
_FORGETTERS_LOCK = threading.Lock()


def _forgetter(redis: Redis) -> _Forgetter:
    forgetter = _FORGETTERS.get(redis)
    if forgetter is None:
        with _FORGETTERS_LOCK:
            forgetter = _FORGETTERS.get(redis)
            if forgetter is None:
                forgetter = _FORGETTERS[redis] = _Forgetter(redis)
    return forgetter


def lost_calls(redis: Redis, request_id: str) -> list[AttemptRecord]:
    """The calls a dead process had in flight for ``request_id``, as attempts of unknown outcome."""
    key = IN_FLIGHT_KEY.format(request_id)
    try:
        notes = redis.hgetall(key)
        redis.delete(key)
    except RedisError:
        return []
    lost = []
    for raw in notes.values():
        note = json.loads(raw)
        lost.append(AttemptRecord(
            tier=note.get("tier") or "", model=note["model"], provider="unknown", purpose=LOST, ok=False, gate=LOST,
            reason="the process running this call stopped before it answered: outcome unknown, "
                   "cost estimated (the provider may have billed it)",
            cost_usd=Decimal(note["estimate"])))
    return lost
