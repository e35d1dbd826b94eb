"""This process's leases: one UPDATE every few seconds renews the lease of every request it runs.

Written with ``threading`` primitives: under gevent (gunicorn's gevent workers, ``python -m workers``)
they are greenlets, so a request waiting on a model costs a few KB and no thread; without gevent
(tests on the Flask test client) they are real threads and everything still works.
"""
from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from typing import Iterator

from app.execution import lifecycle

log = logging.getLogger(__name__)


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
