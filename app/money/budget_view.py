"""Which API keys and workflows have a budget, kept in each process: a request without one costs no budget SQL.

Most requests have no budget, yet each asked the database three times to learn that (17% of a sync
``/v1/fallback``'s CPU). Budgets change rarely, and only through ``set_budget``, so each process keeps
the (scope, subject) -> budget ids map and checks it is current with one Redis GET of
``GENERATION_KEY``. Every commit that ran ``set_budget`` (web, worker or CLI) writes a new random token
there; a token, not a counter, so a Redis that was flushed and counted up again cannot hand back a
value an old view was tagged with.

Refreshing is single-flight: one caller per process reloads (in a session of its own: one extra
connection at most, however many ask at once); the others wait up to ``REFRESH_WAIT_SECONDS`` for it and
then use the new view, or ask the database themselves as before the view existed. None of them uses a
view it knows to be stale: a burst after a quiet spell would otherwise run past a budget set during the
quiet. While Redis is away the last view serves, reloaded at most every ``OUTAGE_REFRESH_SECONDS`` and
after this process's own changes, and once more when Redis is back; the database is never asked per
request.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
import weakref
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator, Mapping

from redis import Redis, RedisError
from sqlalchemy import event, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.store.models import Budget

log = logging.getLogger(__name__)

GENERATION_KEY = "tiergate:budgets:generation"
# While Redis is away, how old the view may get before one caller reloads it from the database.
OUTAGE_REFRESH_SECONDS = 5.0
# After Redis failed to answer, how long the view serves without asking it again.
REDIS_QUIET_SECONDS = 1.0
# How long a caller waits for another caller's reload before it asks the database itself.
REFRESH_WAIT_SECONDS = 2.0
# Requests admitted here whose run has not taken their budget ids yet (async ones run in a worker).
ADMITTED_MAX_ENTRIES = 10_000
# ``session.info`` flag: this transaction created or changed a budget.
CHANGED = "tiergate.budgets_changed"

Subjects = Mapping[tuple[str, str], tuple[int, ...]]

_views: "weakref.WeakKeyDictionary[object, BudgetView]" = weakref.WeakKeyDictionary()
# (Redis client, token): the generation a caller read in its own round trip, for this context's look-ups.
_already_read: ContextVar[tuple[Redis, bytes | None] | None] = ContextVar("tiergate_budget_generation", default=None)


@contextmanager
def generation_read(redis: Redis, token: bytes | None) -> Iterator[None]:
    """Within the block, look-ups on ``redis``'s budgets take ``token`` as the announced generation
    instead of a GET of their own: a request that reads its API key's generation reads this one in the
    same round trip (``MGET``), so its budgets cost no Redis call of their own. ``token`` must have been
    read inside the request that runs the block, so it is as fresh as a GET there would be."""
    reset = _already_read.set((redis, token))
    try:
        yield
    finally:
        _already_read.reset(reset)


def mark_changed(session: Session) -> None:
    """Say that ``session``'s transaction touches a budget: its commit announces a new generation."""
    session.info[CHANGED] = True


def announce(redis: Redis | None) -> None:
    """Tell every process that the budgets changed (their next look-up reloads)."""
    if redis is None:
        return
    try:
        redis.set(GENERATION_KEY, uuid.uuid4().hex)
    except RedisError as exc:  # the processes reload every OUTAGE_REFRESH_SECONDS meanwhile
        log.warning("budget change not announced, Redis is unreachable (%s)", type(exc).__name__)


class BudgetView:
    """The budgets of one store as this process last saw them."""

    def __init__(self, store, redis: Redis | None):
        self.store, self.redis = store, redis
        self._subjects: Subjects | None = None
        self._generation: bytes | None = None  # the token read just before the view was loaded
        self._changes = 0  # commits of this process that touched a budget
        self._loaded_changes = 0
        self._loaded_at = 0.0
        self._redis_down = False
        self._redis_failed_at = float("-inf")
        self._refreshing = threading.Lock()  # a greenlet lock under gevent's patching
        # Budget ids of the requests this process admitted, until their run takes them (``take_admitted``).
        self._admitted: dict[str, list[int]] = {}

    def note_admitted(self, request_id: str, ids: list[int]) -> None:
        """Remember the budgets a request was admitted on: run in this process (sync), its guard takes
        them instead of looking again; a request run elsewhere leaves its entry to the size cap."""
        if len(self._admitted) >= ADMITTED_MAX_ENTRIES:
            self._admitted.clear()
        self._admitted[request_id] = ids

    def take_admitted(self, request_id: str) -> list[int] | None:
        """The budget ids ``request_id`` was admitted on in this process, once; None if it was not."""
        return self._admitted.pop(request_id, None)

    def budget_ids(self, api_key_id: int | None, workflow: str | None) -> list[int] | None:
        """The ids of the key's and the workflow's budgets, in lock order; None when the view could not
        be brought up to date in time (another caller is still loading it): the caller asks the database."""
        subjects = self.current()
        if subjects is None:
            return None
        if not subjects:
            return []
        ids = []
        if api_key_id is not None:
            ids += subjects.get(("api_key", str(api_key_id)), ())
        if workflow:
            ids += subjects.get(("workflow", workflow), ())
        return sorted(ids)

    def any_budget(self) -> bool | None:
        """Does any budget exist at all? None: the view is not up to date (see ``budget_ids``)."""
        subjects = self.current()
        return None if subjects is None else bool(subjects)

    def current(self) -> Subjects | None:
        """The view, reloaded first when another process (or this one) changed a budget since; None
        when another caller's reload did not finish within ``REFRESH_WAIT_SECONDS``."""
        generation, redis_up = self._read_generation()
        for _ in range(2):  # a reload that read an older generation than ours: once more
            if self._fresh(generation, redis_up):
                return self._subjects
            if self._refreshing.acquire(blocking=False):
                try:
                    return self._reload(generation, redis_up)
                finally:
                    self._refreshing.release()
            if not self._refreshing.acquire(timeout=REFRESH_WAIT_SECONDS):
                return None
            self._refreshing.release()  # the other caller's reload is done: is it new enough?
        return self._subjects if self._fresh(generation, redis_up) else None

    def _read_generation(self) -> tuple[bytes | None, bool]:
        """The announced token, and whether Redis answered. After a failure Redis is left alone for
        ``REDIS_QUIET_SECONDS``: its client retries with backoff, seconds per call, and every request
        paying that during an outage ran them into their clients' timeouts."""
        if self.redis is None or time.monotonic() - self._redis_failed_at < REDIS_QUIET_SECONDS:
            return self._generation, False
        already = _already_read.get()
        if already is not None and already[0] is self.redis:
            return already[1], True
        try:
            return self.redis.get(GENERATION_KEY), True
        except RedisError:
            self._redis_failed_at = time.monotonic()
            return self._generation, False

    def _fresh(self, generation: bytes | None, redis_up: bool) -> bool:
        if self._subjects is None or self._loaded_changes != self._changes:
            return False
        if redis_up:
            return not self._redis_down and generation == self._generation
        if self.redis is not None:
            self._redis_down = True  # reload once Redis is back: a change may not have been announced
        return time.monotonic() - self._loaded_at < OUTAGE_REFRESH_SECONDS

    def load(self) -> None:
        """Load the view now (at process start), so the first requests find it."""
        generation, redis_up = self._read_generation()
        with self._refreshing:
            self._reload(generation, redis_up)

    def _reload(self, generation: bytes | None, redis_up: bool) -> Subjects | None:
        """Read every budget's (scope, subject) in a session of its own; the caller holds the lock."""
        changes = self._changes
        try:
            with self.store.session() as session:
                rows = session.execute(select(Budget.id, Budget.scope, Budget.subject)).all()
        except SQLAlchemyError as exc:
            if self._subjects is None or redis_up:
                raise
            log.warning("budgets not reloaded (%s); using the last view while Redis is away", type(exc).__name__)
            return self._subjects
        grouped: dict[tuple[str, str], list[int]] = {}
        for budget_id, scope, subject in rows:
            grouped.setdefault((scope, subject), []).append(budget_id)
        self._subjects = {key: tuple(sorted(ids)) for key, ids in grouped.items()}
        self._generation, self._loaded_changes, self._loaded_at = generation, changes, time.monotonic()
        self._redis_down = not redis_up and self.redis is not None
        return self._subjects

    def _committed(self, session: Session) -> None:
        if session.info.pop(CHANGED, False):
            self._changes += 1
            announce(self.redis)

    def _rolled_back(self, session: Session, _transaction=None) -> None:
        session.info.pop(CHANGED, None)


def watch_budgets(store, redis: Redis | None, *, load: bool = True) -> BudgetView:
    """Keep a view of ``store``'s budgets in this process, announce its budget changes through
    ``redis``, and let ``budgets_for(store)`` use the view. ``load=False``: a short command that only
    changes budgets (the view loads on first use, if ever)."""
    view = _views.get(store)
    if view is None:
        view = _views[store] = BudgetView(store, redis)
        event.listen(store.sessions, "after_commit", view._committed)
        event.listen(store.sessions, "after_soft_rollback", view._rolled_back)
    if load:
        view.load()
    return view


def view_of(store) -> BudgetView | None:
    """The view this process keeps of ``store``'s budgets, if it keeps one."""
    return _views.get(store)


__all__ = ["GENERATION_KEY", "BudgetView", "announce", "generation_read", "mark_changed", "view_of", "watch_budgets"]
