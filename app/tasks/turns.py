"""Turns: a burst of arrivals takes its CPU-heavy steps one per turn of the event loop, not all at once.

Under gevent a greenlet runs until it waits on something; when 200 requests arrive in the same instant,
the event loop hands all 200 their turn in one go, and a ``/v1/route`` or ``/healthz`` that arrived
just after waits for all of their intake work (hundreds of milliseconds on two cores). Here a request
about to do such a step first waits its turn (``wait_turn``): one request at a time, it takes the line's
one place, waits on a timer of ``TURN_SECONDS`` (the loop polls its sockets before firing it, so a short
request that arrived meanwhile runs first), then leaves the place to the next and goes on. Nobody holds
the place while working: the work itself, and waiting on the database or a model, runs beside the
others as before. Without gevent (tests, a plain worker) the same code uses threads.
"""
from __future__ import annotations

import threading
import time

# A turn's wait: a timer, so the event loop polls its sockets first, and short enough that an idle loop
# does not sleep on it.
TURN_SECONDS = 1e-6


class Turns:
    """A line of requests about to do CPU-heavy work; ``wait_turn`` returns when it is this one's turn."""

    def __init__(self):
        self._place = threading.Lock()

    def wait_turn(self) -> None:
        with self._place:
            time.sleep(TURN_SECONDS)


_turns: Turns | None = None


def wait_turn() -> None:
    """This process's line (made on first use: after gevent has patched ``threading``)."""
    global _turns
    if _turns is None:
        _turns = Turns()
    _turns.wait_turn()
