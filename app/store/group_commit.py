"""Group commit: concurrent requests' ledger writes share transactions instead of each paying for its own.

At 500 ``/v1/route`` requests a second, a commit per request made two web processes queue on SQLite's
single write lock (its busy handler sleeps in whole milliseconds), and the tail of the latency grew
with it; on PostgreSQL every commit waits for its WAL flush. Here the first request to arrive while no
commit is running commits at once (no added latency when traffic is light); requests that arrive
meanwhile wait and are committed together by the next flush. Nothing is answered before its row is
committed, so nothing acknowledged is lost. Used for ``/v1/route``'s decision, the intake's decision and
request row, and a request's outcome with its attempts and callback.

A flush is one transaction: first every waiting row, one executemany per table in the tables'
dependency order (a decision before the request that names it; prepared statements,
``app.store.prepared``), then each waiting ``work`` (a conditional UPDATE and what depends on it) in
arrival order. Flushes run one at a time per process, on one connection the process holds
(``_HeldConnection``) rather than a pool checkout each. When a flush fails (one request's row
breaks the Idempotency-Key index, a statement error), it is rolled back and each write is tried again
alone, so each request gets its own result or its own error, never another's.

On SQLite the web processes and workers share one write lock, and SQLite's busy handler waits for it
by sleeping the whole process (every greenlet, a ``/v1/route`` too) in steps of up to 100 ms, and
unfairly: a process committing often kept the other one waiting for 400 ms in a burst. So a flush
first takes the database's writer lock (``WriterLock``, a file lock beside it) in a native thread while
its greenlet waits like any other I/O; the kernel hands the lock from flush to flush, the event loop
keeps running meanwhile, and what arrives during the wait joins the batch.
"""
from __future__ import annotations

import fcntl
import logging
import os
import threading
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

from sqlalchemy import Table
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from app.store.models import Base, column_row
from app.store.prepared import Prepared

MAX_BATCH_WRITES = 500
# The writer lock's file, beside the SQLite database file.
WRITER_LOCK_SUFFIX = ".write.lock"
log = logging.getLogger(__name__)
T = TypeVar("T")
# Parents before children: the order a flush inserts its tables in.
_TABLE_ORDER = {table: position for position, table in enumerate(Base.metadata.sorted_tables)}


def _insert(table: Table) -> Prepared:
    """The table's INSERT, compiled once per column set (``app.store.prepared``)."""
    statement = _INSERTS.get(table)
    if statement is None:
        statement = _INSERTS[table] = Prepared(table.insert())
    return statement


_INSERTS: dict[Table, Prepared] = {}


class _Pending:
    __slots__ = ("rows", "work", "done", "result", "error")

    def __init__(self, rows: list[tuple[Table, dict[str, Any]]], work: Callable[[Connection], Any] | None):
        self.rows, self.work, self.done, self.result, self.error = rows, work, threading.Event(), None, None


class WriterLock:
    """One SQLite writer at a time across the processes on a database file (an ``flock`` on ``path``).

    Under gevent the blocking ``flock`` runs in the hub's native thread pool, so only the flushing
    greenlet waits for it; without gevent the calling thread blocks on it.
    """

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None
        self._pid = 0  # a forked child opens its own: a shared open file would share the lock
        self._held = False

    def __enter__(self) -> "WriterLock":
        try:
            if self._fd is None or self._pid != os.getpid():
                self._fd, self._pid = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600), os.getpid()
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free: no thread hand-off
            except BlockingIOError:
                _off_the_event_loop(fcntl.flock, self._fd, fcntl.LOCK_EX)
            self._held = True
        except OSError as exc:  # only an aid to scheduling: SQLite's own lock still keeps the writes apart
            log.warning("no writer lock at %s (%s); SQLite's busy handler orders the writes", self.path, exc)
        return self

    def __exit__(self, *_exc) -> None:
        if self._held:
            self._held = False
            try:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            except OSError as exc:  # closing the file lets go of the lock too; the flush is committed anyway
                log.warning("could not let go of the writer lock at %s (%s)", self.path, exc)

    def close(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = None


def _off_the_event_loop(call: Callable[..., T], *args) -> T:
    """``call(*args)`` in a native thread when gevent has patched ``threading`` (the greenlet waits for it
    as for I/O), else right here."""
    try:
        from gevent import get_hub, monkey
    except ImportError:  # pragma: no cover - gevent is a dependency
        return call(*args)
    if not monkey.is_module_patched("threading"):
        return call(*args)
    return get_hub().threadpool.apply(call, args)


def writer_lock(url) -> WriterLock | None:
    """The writer lock of a SQLite database file (beside it), None for other databases."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:") or url.database.startswith("file:"):
        return None
    return WriterLock(Path(f"{url.database}{WRITER_LOCK_SUFFIX}"))



class GroupCommit:
    """Ledger writes committed in shared transactions; each call returns once its write is committed."""

    def __init__(self, store):
        self.store = store
        self._lock = threading.Lock()
        self._pending: list[_Pending] = []
        self._flushing = False
        self._writer = writer_lock(store.engine.url)
        self._held = _HeldConnection(store.engine)

    def close(self) -> None:
        """Let go of the writer lock's file and the flushes' connection (the store is disposed)."""
        if self._writer is not None:
            self._writer.close()
        self._held.close()

    def insert(self, model, row: dict[str, Any]) -> None:
        """INSERT one row of ``model`` (keyed by its attribute names)."""
        self.write(rows=[(model.__table__, column_row(model, row))])

    def write(self, work: Callable[[Connection], T] | None = None,
              rows: Iterable[tuple[Table, dict[str, Any]]] = ()) -> T | None:
        """INSERT ``rows`` (table, row keyed by column) and run ``work(connection)`` in a shared transaction;
        returns ``work``'s result once that transaction is committed. ``work`` may run twice (the second
        time alone, after its batch was rolled back), so it only writes through ``connection``."""
        pending = _Pending(list(rows), work)
        with self._lock:
            self._pending.append(pending)
            lead = not self._flushing
            self._flushing = True
        if lead:
            self._flush_once()
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        return pending.result

    def _flush_once(self) -> None:
        """Commit what is waiting; if more arrived meanwhile, hand the next flush to a new greenlet."""
        with self._writer or nullcontext():
            with self._lock:  # taken once the writer lock is held: what arrived while waiting for it joins
                batch, self._pending = self._pending[:MAX_BATCH_WRITES], self._pending[MAX_BATCH_WRITES:]
            self._commit_batch(batch)
        # Its writers wake once the writer lock is let go: a writer that then disposes of the store
        # (closing the lock's file) cannot pull the file from under a flush still letting go of it.
        for item in batch:
            item.done.set()
        with self._lock:
            more = bool(self._pending)
            self._flushing = more
        if more:
            threading.Thread(target=self._flush_once, daemon=True, name="tiergate-group-commit").start()

    def _commit_batch(self, batch: list[_Pending]) -> None:
        """Commit ``batch`` in one transaction, or each write alone when that fails (its writers are woken
        by ``_flush_once``)."""
        try:
            self._commit(batch)
        except Exception as exc:  # e.g. a 503 for every request when the database is away
            if len(batch) == 1:
                batch[0].error = exc
            else:
                for item in batch:
                    try:
                        self._commit([item])
                    except Exception as own:
                        item.error = own

    def _commit(self, batch: list[_Pending]) -> None:
        by_table: dict[tuple[Table, frozenset[str]], list[dict[str, Any]]] = {}
        for item in batch:
            for table, row in item.rows:  # an executemany needs the same columns in every row
                by_table.setdefault((table, frozenset(row)), []).append(row)
        inserts = [(table, by_table[(table, columns)])
                   for table, columns in sorted(by_table, key=lambda key: _TABLE_ORDER.get(key[0], 0))]
        with self._held as held:
            try:
                results = self._transaction(held, batch, inserts)
            except DBAPIError as exc:
                if not held.lost_before_commit(exc):
                    raise
                # The held connection was gone before this flush (the database restarted, a proxy cut it):
                # what a pool's pre-ping would have caught. Its transaction never reached COMMIT, so the
                # batch goes again, on a new connection.
                results = self._transaction(held, batch, inserts)
        for item, result in zip(batch, results):
            item.result = result

    @staticmethod
    def _transaction(held: "_HeldConnection", batch: list[_Pending], inserts) -> list[Any]:
        connection = held.connection()
        with connection.begin():
            for table, rows in inserts:
                _insert(table).run(connection, rows)
            results = [item.work(connection) if item.work is not None else None for item in batch]
            held.committing = True
        return results


class _HeldConnection:
    """The connection this process's flushes use, one flush at a time (``with`` it around each flush).

    A pool checkout per flush (the pool's reset on return, on PostgreSQL a pre-ping round trip) cost more
    than a flush's SQL. Held from the first flush until the store is disposed; replaced when a flush fails
    and leaves it in doubt (dead, or its rollback failed: it never goes back to the pool), and in a forked child, which
    must not use (nor close: on PostgreSQL that would end the parent's session) the parent's connection.
    """

    def __init__(self, engine):
        self._engine = engine
        self._lock = threading.Lock()
        self._connection: Connection | None = None
        self._pid = 0
        self._fresh = False  # no transaction has run on it yet
        self.committing = False  # this flush's COMMIT was sent: its outcome may be unknown, never retried

    def __enter__(self) -> "_HeldConnection":
        self._lock.acquire()
        return self

    def __exit__(self, exc_type, _exc, _tb) -> None:
        try:
            if exc_type is not None and not self._clean(exc_type):
                self._drop()
        finally:
            self._lock.release()

    def _clean(self, exc_type) -> bool:
        """Is the connection fine after a failed flush (its transaction rolled back: a broken unique index,
        a statement error), so the next flush may use it?"""
        connection = self._connection
        return (connection is not None and issubclass(exc_type, Exception) and not connection.invalidated
                and not connection.closed and not connection.in_transaction())

    def connection(self) -> Connection:
        if self._connection is not None and self._pid != os.getpid():
            _INHERITED.append(self._connection)  # the parent's: kept from the garbage collector, never used
            self._connection = None
        if self._connection is None:
            self._connection, self._pid, self._fresh = self._engine.connect(), os.getpid(), True
        else:
            self._fresh = False
        self.committing = False
        return self._connection

    def lost_before_commit(self, exc: DBAPIError) -> bool:
        """Did ``exc`` come from a held (not new) connection that had died, before this flush sent its
        COMMIT? Then it is replaced, and True: the flush may go again. Otherwise ``__exit__`` drops it."""
        if self._fresh or self.committing or not exc.connection_invalidated:
            return False
        self._drop()
        return True

    def close(self) -> None:
        with self._lock:
            connection, self._connection = self._connection, None
            if connection is not None and self._pid == os.getpid():
                connection.close()  # between flushes: no transaction open, back to the pool to be disposed

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and self._pid == os.getpid():
            try:
                connection.invalidate()
                connection.close()
            except Exception:  # noqa: BLE001  (gone with the database already)
                pass


# Connections a forked child inherited from its parent's flushes: only the parent may use or close them.
_INHERITED: list[Connection] = []
