"""Turns and work places: a burst of arrivals does its CPU-heavy steps a few at a time, not all at once.

Under gevent a greenlet runs until it waits on something; when 200 requests arrive in the same instant,
the event loop hands all 200 their turn in one go, and a ``/v1/route`` or ``/healthz`` that arrived
just after waits for all of their intake work (hundreds of milliseconds on two cores). Two tools:

- ``wait_turn``: one request at a time takes the line's one place, waits on a timer of ``TURN_SECONDS``
  (the loop polls its sockets before firing it, so a short request that arrived meanwhile runs first),
  then leaves the place to the next and goes on. A request alone in its process (nobody else holds a
  work place, waits in line or has a sync cascade under way, ``at_work``) goes on at once: there is no
  heavy stretch a newcomer could be behind. Not merely "nobody in line": when a burst's model answers
  come back together, the others are ready to run but not yet in line.
- ``hold`` / ``let_go``: a request's heavy stretch (parse, route, admit and store a model call; then,
  once the model has answered, its gates and the outcome's write) holds one of ``WORK_PLACES`` places,
  and lets go of it while it waits on the model. Without it, every request past its turn runs again as
  soon as its Redis reply or database commit is back, and one pass of the event loop carried the next
  step of all of them: tens of milliseconds in front of each step of a ``/v1/route``. With it, a pass
  carries a few such steps; the others wait in line, costing nothing. Waiting on the model is not
  held, so hundreds of calls are still in flight at once.

Without gevent (tests, a plain worker) the same code uses threads.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Iterator

from app.execution.sync import green

# A turn's wait: a timer, so the event loop polls its sockets first, and short enough that an idle loop
# does not sleep on it.
TURN_SECONDS = 1e-6
# Heavy stretches running at once in a process: enough to keep a core busy while some of them wait on
# Redis or a commit, few enough that one pass of the event loop stays short.
WORK_PLACES = 4
# A place is only a matter of order: past this wait a request goes on without one (never a deadlock).
PLACE_WAIT_SECONDS = 5.0


class Turns:
    """A line of requests about to do CPU-heavy work; ``wait_turn`` returns when it is this one's turn."""

    def __init__(self, places: int = WORK_PLACES):
        if green():  # gevent's own semaphores: ``threading``'s, patched, wait on a Condition made of locks
            from gevent.lock import Semaphore

            self._place, self._work = Semaphore(1), Semaphore(places)
        else:
            self._place, self._work = threading.Lock(), threading.Semaphore(places)
        # Who holds a work place, and who is in line for a turn: greenlets (threads without gevent) by
        # ident. Sets, not a ``threading.local``: a look-up is a hash, and adding or removing one's own
        # ident needs no lock with threads either.
        self._holders: set[int] = set()
        self._in_line: set[int] = set()
        self._at_work: set[int] = set()  # running a sync cascade, also while it waits on the model
        self._ident = threading.get_ident  # gevent's (a greenlet's id) once it has patched ``threading``

    def wait_turn(self) -> None:
        """This greenlet's turn; at once when it is alone (see the module docstring): no other heavy
        stretch could run before a newcomer, so there is nobody to let go first."""
        me = self._ident()
        in_line = self._in_line
        in_line.add(me)
        try:
            if len(in_line) == 1 and _only(self._holders, me) and _only(self._at_work, me):
                return
            with self._place:
                time.sleep(TURN_SECONDS)
        finally:
            in_line.discard(me)

    def hold(self) -> None:
        """Take a work place (if this greenlet holds none), then a turn."""
        me = self._ident()
        if me not in self._holders:
            self._in_line.add(me)  # waiting for a place is being in line too
            try:
                if self._work.acquire(timeout=PLACE_WAIT_SECONDS):
                    self._holders.add(me)
            finally:
                self._in_line.discard(me)
        self.wait_turn()

    def let_go(self) -> None:
        """Give this greenlet's work place to the next in line (nothing when it holds none)."""
        me = self._ident()
        if me in self._holders:
            self._holders.discard(me)
            self._work.release()

    @contextmanager
    def at_work(self) -> Iterator[None]:
        """This greenlet runs a sync cascade: while it does, nobody else is alone (``wait_turn``)."""
        me = self._ident()
        self._at_work.add(me)
        try:
            yield
        finally:
            self._at_work.discard(me)


def _only(idents: set[int], me: int) -> bool:
    """Is ``idents`` empty, or ``me`` alone?"""
    return not idents or (len(idents) == 1 and me in idents)


_turns: Turns | None = None


def _line() -> Turns:
    """This process's line (made on first use: after gevent has patched ``threading``)."""
    global _turns
    if _turns is None:
        _turns = Turns()
    return _turns


def wait_turn() -> None:
    _line().wait_turn()


def at_work():
    """For a sync cascade's whole run (``Turns.at_work``)."""
    return _line().at_work()


def hold() -> None:
    """Take a work place and a turn for this greenlet's next heavy stretch (see the module docstring)."""
    _line().hold()


def let_go() -> None:
    """This greenlet's heavy stretch is over (it is about to wait on a model, or done)."""
    _line().let_go()


def pause_unheld(seconds: float) -> None:
    """Sleep ``seconds`` (a provider outage waited out) without holding a work place meanwhile."""
    let_go()
    time.sleep(seconds)
    hold()


class PlaceWhileCalling:
    """A call observer (``app.calls.CallObserver``): lets go of the work place while the model is called,
    and takes one again for the gates and the outcome's write once it has answered."""

    def before(self, _call, _bound=None) -> None:
        let_go()

    def after(self, _call) -> None:
        hold()
