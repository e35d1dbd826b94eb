"""Group commit: concurrent requests' ledger writes share transactions instead of each paying for its own.

At 500 ``/v1/route`` requests a second, a commit per request made two web processes queue on SQLite's
single write lock (its busy handler sleeps in whole milliseconds), and the tail of the latency grew
with it; on PostgreSQL every commit waits for its WAL flush. Here the first request to arrive while no
commit is running commits at once (no added latency when traffic is light); requests that arrive
meanwhile wait and are committed together by the next flush. Nothing is answered before its row is
committed, so nothing acknowledged is lost. Used for ``/v1/route``'s decision, the intake's decision and
request row, and a request's outcome with its attempts and callback.

A flush is one transaction: first every waiting row, one executemany per table in the tables'
dependency order (a decision before the request that names it), then each waiting ``work`` (a
conditional UPDATE and what depends on it) in arrival order. When a flush fails (one request's row
breaks the Idempotency-Key index, a statement error), it is rolled back and each write is tried again
alone, so each request gets its own result or its own error, never another's.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Iterable, TypeVar

from sqlalchemy import Table
from sqlalchemy.engine import Connection

from app.store.models import Base, column_row

MAX_BATCH_WRITES = 500
T = TypeVar("T")
# Parents before children: the order a flush inserts its tables in.
_TABLE_ORDER = {table: position for position, table in enumerate(Base.metadata.sorted_tables)}


def _insert(table: Table):
    """The table's INSERT, built once: a statement's cache key is computed once per statement object."""
    statement = _INSERTS.get(table)
    if statement is None:
        statement = _INSERTS[table] = table.insert()
    return statement


_INSERTS: dict[Table, Any] = {}


class _Pending:
    __slots__ = ("rows", "work", "done", "result", "error")

    def __init__(self, rows: list[tuple[Table, dict[str, Any]]], work: Callable[[Connection], Any] | None):
        self.rows, self.work, self.done, self.result, self.error = rows, work, threading.Event(), None, None


class GroupCommit:
    """Ledger writes committed in shared transactions; each call returns once its write is committed."""

    def __init__(self, store):
        self.store = store
        self._lock = threading.Lock()
        self._pending: list[_Pending] = []
        self._flushing = False

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
        with self._lock:
            batch, self._pending = self._pending[:MAX_BATCH_WRITES], self._pending[MAX_BATCH_WRITES:]
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
        for item in batch:
            item.done.set()
        with self._lock:
            more = bool(self._pending)
            self._flushing = more
        if more:
            threading.Thread(target=self._flush_once, daemon=True, name="tiergate-group-commit").start()

    def _commit(self, batch: list[_Pending]) -> None:
        by_table: dict[tuple[Table, frozenset[str]], list[dict[str, Any]]] = {}
        for item in batch:
            for table, row in item.rows:  # an executemany needs the same columns in every row
                by_table.setdefault((table, frozenset(row)), []).append(row)
        with self.store.engine.begin() as connection:
            for table, _columns in sorted(by_table, key=lambda key: _TABLE_ORDER.get(key[0], 0)):
                connection.execute(_insert(table), by_table[(table, _columns)])
            results = [item.work(connection) if item.work is not None else None for item in batch]
        for item, result in zip(batch, results):
            item.result = result
