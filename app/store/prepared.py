"""Ledger writes compiled once and run as driver SQL: the statements every request makes, without
SQLAlchemy's per-execution work.

``Connection.execute`` of a Core INSERT or UPDATE looks its compiled form up in the cache, builds its
parameters (``construct_params``) and sets up a compiled execution context on every call, which on
SQLite cost more than running the SQL. A ``Prepared`` statement is compiled by SQLAlchemy's own
compiler once per dialect and column set (so the dialect's paramstyle, qmark on SQLite and pyformat on
PostgreSQL, and its casts are SQLAlchemy's), applies the columns' bind processors and Python-side
defaults itself, and runs through ``Connection.exec_driver_sql``: still SQLAlchemy's execution, with its
events, its error wrapping (a broken unique index is still ``sqlalchemy.exc.IntegrityError``) and its
invalidation of a connection the database has dropped.
"""
from __future__ import annotations

import threading
import weakref
from typing import Any, Callable, Sequence

from sqlalchemy.engine import Connection, CursorResult, Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert, Update

Row = dict[str, Any]


class Prepared:
    """An INSERT or UPDATE (built with Core, parameters keyed by column key and by its own bind names)
    run with ``run``; whatever it cannot run as driver SQL goes through ``Connection.execute``."""

    def __init__(self, statement: Insert | Update):
        self.statement = statement
        self._forms: "weakref.WeakKeyDictionary[Dialect, dict[frozenset[str], _Form | None]]" = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def run(self, connection: Connection | Session, params: Row | Sequence[Row]) -> CursorResult:
        """Execute with ``params`` (one row, or several with the same keys: an executemany)."""
        if isinstance(connection, Session):
            connection = connection.connection()
        rows = [params] if isinstance(params, dict) else params
        form = self._form(connection.dialect, rows[0]) if rows else None
        if form is None:
            return connection.execute(self.statement, params)
        if len(rows) == 1:
            return connection.exec_driver_sql(form.sql, form.bind(rows[0]))
        return connection.exec_driver_sql(form.sql, [form.bind(row) for row in rows])

    def _form(self, dialect: Dialect, row: Row) -> "_Form | None":
        forms = self._forms.get(dialect)
        if forms is None:
            with self._lock:
                forms = self._forms.setdefault(dialect, {})
        keys = frozenset(row)
        form = forms.get(keys, _MISSING)
        if form is _MISSING:
            form = forms[keys] = _Form.compile(self.statement, dialect, keys)
        return form


_MISSING: Any = object()


class _Form:
    """The statement compiled for one dialect and column set, and how to turn a row into its parameters."""

    __slots__ = ("sql", "bind")

    def __init__(self, sql: str, bind: Callable[[Row], Any]):
        self.sql, self.bind = sql, bind

    @classmethod
    def compile(cls, statement: Insert | Update, dialect: Dialect, keys: frozenset[str]) -> "_Form | None":
        """None for what only ``Connection.execute`` can run (a default computed by SQL or from the
        execution context, expanding parameters)."""
        compiled = statement.compile(dialect=dialect, column_keys=sorted(keys), for_executemany=True)
        if compiled.literal_execute_params or compiled.post_compile_params or compiled.returning:
            return None
        defaults: dict[str, Callable[[], Any]] = {}
        for column in [*compiled.insert_prefetch, *compiled.update_prefetch]:
            default = column.onupdate if isinstance(statement, Update) else column.default
            if default is None or not (default.is_scalar or default.is_callable):
                return None
            defaults[column.key] = _constant(default.arg) if default.is_scalar else _called(default.arg)
        steps = []  # (name, processor or None, how to get the value: given, default, or bound in the statement)
        names = compiled.positiontup if compiled.positional else list(compiled.binds)
        for name in names:
            bind = compiled.binds[name]
            processor = compiled._bind_processors.get(name)  # what Connection.execute applies (types' bind processing)
            if name in keys:
                steps.append((name, processor, None))
            elif name in defaults:
                steps.append((name, processor, defaults[name]))
            elif not bind.required and not bind.callable:
                steps.append((name, processor, _constant(bind.value)))
            else:
                return None
        escaped = compiled.escaped_bind_names or {}  # pyformat names SQLAlchemy had to escape
        return cls(compiled.string, _binder(steps, compiled.positional, [escaped.get(name, name) for name in names]))


def _constant(value: Any) -> Callable[[], Any]:
    return lambda: value


def _called(default: Callable[[Any], Any]) -> Callable[[], Any]:
    return lambda: default(None)  # SQLAlchemy wraps a default that takes no context into one that takes it


def _binder(steps: list[tuple[str, Callable[[Any], Any] | None, Callable[[], Any] | None]],
            positional: bool, keys: list[str]) -> Callable[[Row], Any]:
    """Turns a row into the driver's parameters: a tuple in ``steps``' order, or a dict keyed by ``keys``."""
    def values(row: Row) -> list[Any]:
        return [(row[name] if source is None else source()) if processor is None
                else processor(row[name] if source is None else source()) for name, processor, source in steps]

    if positional:
        return lambda row: tuple(values(row))
    return lambda row: dict(zip(keys, values(row)))
