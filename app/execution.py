"""Running many requests at once in one process: leases, calls in flight, and the sync hand-over.

Written with ``threading`` primitives: under gevent (gunicorn's gevent workers, ``tiergate worker``)
they are greenlets, so a request waiting on a model costs a few KB and no thread; without gevent
(tests on the Flask test client, a plain ``flask run``) they are real threads and everything still works.

- ``Leases``: renews, in one UPDATE every few seconds, the lease of every request this process runs.
- ``InFlightCalls``: remembers in Redis each model call from the moment it goes out until its outcome
  is stored, so the process that rescues a request after a crash can put the paid call in the ledger
  at its estimated cost.
- ``SyncTask``: the hand-over between a sync HTTP request and the greenlet running its cascade: the
  answer goes back in the response if it is ready by the bound, else by callback, never both.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, Iterator

from redis import Redis, RedisError

from app import lifecycle
from app.cascade.records import AttemptRecord
from app.pricing import PriceTable, Usage
from app.providers.base import ModelCall, call_text
from app.routing.tokens import estimate_tokens

log = logging.getLogger(__name__)

IN_FLIGHT_KEY = "tiergate:inflight:{}"
IN_FLIGHT_TTL_SECONDS = 24 * 3600
LOST = "lost"


class Leases:
    """This process's lease owner name, and the greenlet that keeps its running requests' leases fresh.

    Only requests held right now (``hold``) are renewed: one that a crash left behind runs out of
    lease and is rescued, instead of being kept alive by a process that forgot it.
    """

    def __init__(self, store, owner: str | None = None):
        self.store = store
        self.owner = owner or lifecycle.process_owner()
        self.held: dict[str, int] = {}
        self._lock = threading.Lock()
        self._renewer: threading.Thread | None = None

    @contextmanager
    def hold(self, request_id: str) -> Iterator[None]:
        with self._lock:
            self.held[request_id] = self.held.get(request_id, 0) + 1
            if self._renewer is None:
                self._renewer = threading.Thread(target=self._renew_forever, daemon=True, name="tiergate-leases")
                self._renewer.start()
        try:
            yield
        finally:
            with self._lock:
                self.held[request_id] -= 1
                if not self.held[request_id]:
                    del self.held[request_id]

    def _renew_forever(self) -> None:
        while True:
            time.sleep(lifecycle.LEASE_RENEW_SECONDS)
            with self._lock:
                held = list(self.held)
            if not held:
                continue
            try:
                with self.store.session() as session:
                    lifecycle.renew(session, self.owner, held)
            except Exception as exc:  # the database is down: the leases may run out; rescue handles that
                log.warning("could not renew leases: %s", type(exc).__name__)


class InFlightCalls:
    """A call observer (``app.cascade.CallObserver``) that keeps a Redis note of each call until it is stored."""

    def __init__(self, redis: Redis, request_id: str, prices: PriceTable, *, keep_until_stored: bool = True):
        self.redis, self.key, self.prices = redis, IN_FLIGHT_KEY.format(request_id), prices
        # A list's chunks are stored one by one, each right after its calls: their notes go when the call ends.
        self.keep_until_stored = keep_until_stored

    def before(self, call: ModelCall) -> None:
        try:
            estimate = self.prices.plain_cost(call.model, Usage(
                input_tokens=estimate_tokens(call_text(call)),
                output_tokens=call.expected_output_tokens or call.max_tokens))
        except Exception:  # a model without a price (a pass-through name): no estimate, still noted
            estimate = Decimal(0)
        note = {"model": call.model, "tier": call.tier, "purpose": call.purpose, "estimate": str(estimate)}
        try:
            with self.redis.pipeline() as pipe:
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


class SyncTask:
    """A sync request's cascade running beside its HTTP request, and who delivers the answer.

    The cascade greenlet calls ``respond_or_callback`` right before it stores the outcome; the HTTP
    request calls ``wait`` with what is left of its bound. Both decide under one lock, so either the
    answer goes back in the response, or the request answers 202 and the callback carries it.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._detached = False
        self._committing = False
        self.answer: dict[str, Any] | None = None

    def respond_or_callback(self) -> bool:
        """Called by the cascade greenlet: True when the waiting response will carry the answer."""
        with self._lock:
            self._committing = not self._detached
            return self._committing

    def finish(self, answer: dict[str, Any] | None) -> None:
        self.answer = answer
        self._done.set()

    def wait(self, seconds: float) -> dict[str, Any] | None:
        """The answer if it is ready within ``seconds`` (or being stored then); else None: answer 202."""
        if self._done.wait(max(seconds, 0)):
            return self.answer
        with self._lock:
            if not self._committing:
                self._detached = True
                return None
        self._done.wait()
        return self.answer
