"""The hand-over between a sync HTTP request and the greenlet running its task: the answer goes back in
the response if it is ready by the bound, else by callback, never both."""
from __future__ import annotations

import threading
from typing import Any, Callable


def green() -> bool:
    """Is gevent running this process (``threading`` patched: the gunicorn web processes)? Not in tests
    or a plain process, where the same code runs on threads."""
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a dependency
        return False
    return monkey.is_module_patched("threading")


def spawn(run: Callable[[], None], name: str) -> None:
    """Run ``run`` beside the caller: a plain greenlet under gevent, else a daemon thread.

    Under gevent a ``threading.Thread`` is a greenlet too, but its start pays for the thread's
    bookkeeping (its ``Event`` and locks, a wait for it to have started, the registry of threads) on
    every sync request; ``run`` needs none of it (it catches its own errors)."""
    if green():
        from gevent import spawn_raw

        spawn_raw(run)
    else:
        threading.Thread(target=run, daemon=True, name=name).start()


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
