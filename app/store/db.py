"""The SQL store: one engine per process, sessions per request or job, Alembic migrations on start."""
from __future__ import annotations

import fcntl
import itertools
import json
import logging
import time
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, make_url, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from app.datafiles import private_file, tighten
from app.store.group_commit import WRITER_LOCK_SUFFIX, GroupCommit

SQLITE_BUSY_TIMEOUT_MS = 15_000
# How long work with a paid answer in hand keeps trying to store it while the database is away (a
# restart, a lock held past the busy timeout) before it gives up: giving up re-runs the model call.
STORE_RETRY_SECONDS = 30.0
STORE_RETRY_BACKOFF_SECONDS = (0.2, 0.5, 1.0, 2.0, 4.0)
MIGRATION_LOCK_KEY = 0x7469657267  # "tierg"
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal", ".migrate.lock", WRITER_LOCK_SUFFIX)
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


class Store:
    """Engine plus session factory. The web app and each worker build one at start."""

    def __init__(self, url: str):
        self.url = url
        self.engine = _make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @cached_property
    def group_commit(self):
        """This process's group committer (``app.store.group_commit``): concurrent requests' ledger
        writes in shared transactions."""
        return GroupCommit(self)

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision, one process at a time.

        Several web processes and workers may start together; a lock keeps them from racing to create
        the same tables (an advisory lock on PostgreSQL, a file lock beside the SQLite file).
        """
        if self.engine.dialect.name == "postgresql":
            with self.engine.connect() as connection:
                connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
                try:
                    upgrade(self.engine)
                finally:
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
                    connection.commit()
        elif self.engine.dialect.name == "sqlite" and self.engine.url.database not in (None, "", ":memory:"):
            with open(private_file(Path(f"{self.engine.url.database}.migrate.lock")), "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                upgrade(self.engine)
        else:
            upgrade(self.engine)

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        if "group_commit" in self.__dict__:  # made on first use (``cached_property``)
            self.group_commit.close()
        self.engine.dispose()


T = TypeVar("T")
log = logging.getLogger(__name__)


def unreachable(exc: BaseException) -> bool:
    """Does ``exc`` mean the database is away (down, restarting, its connection cut, locked too long),
    rather than a statement that would fail again?"""
    if isinstance(exc, PoolTimeout) or (isinstance(exc, DBAPIError) and exc.connection_invalidated):
        return True
    return isinstance(exc, DBAPIError) and type(exc.orig).__name__ in ("OperationalError", "InterfaceError")


def retrying(write: Callable[[], T], seconds: float = STORE_RETRY_SECONDS) -> T:
    """``write()`` (one whole transaction), tried again with backoff while the database is unreachable,
    for up to ``seconds``; then its error is raised."""
    deadline = time.monotonic() + seconds
    attempt: int
    for attempt in itertools.count():
        try:
            return write()
        except Exception as exc:
            wait = STORE_RETRY_BACKOFF_SECONDS[min(attempt, len(STORE_RETRY_BACKOFF_SECONDS) - 1)]
            if not unreachable(exc) or time.monotonic() + wait > deadline:
                raise
            log.warning("the database is unreachable (%s); storing again in %g s", type(exc).__name__, wait)
            time.sleep(wait)


def json_text(value) -> str:
    """A JSON column's text, written by orjson: the stdlib encoder was most of the JSON in a request's
    ledger writes. Values orjson does not take as the stdlib would (dates, dataclasses, integers past
    64 bits) go to the stdlib, which accepts or refuses them as before."""
    try:
        return orjson.dumps(value, option=_JSON_COLUMN_OPTIONS).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value)


_JSON_COLUMN_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        _private_sqlite_files(make_url(url).database)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
                               json_serializer=json_text)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            # WAL lets the web process read while a worker writes; synchronous=NORMAL is WAL's
            # recommended pairing (durable across process crashes, one fsync per checkpoint instead of
            # per commit); foreign keys are off by default in SQLite.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10, json_serializer=json_text)


def _private_sqlite_files(database: str | None) -> None:
    """Create the database file 0600 before SQLite does (it would use the umask); its -wal and -shm
    files take the database file's mode when SQLite creates them, older ones are tightened here."""
    if database in (None, "", ":memory:") or database.startswith("file:"):
        return
    private_file(Path(database))
    for suffix in SQLITE_SIDE_FILES:
        tighten(Path(database + suffix))


def alembic_config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        config.attributes["engine"] = engine
        config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return config


def upgrade(engine: Engine) -> None:
    command.upgrade(alembic_config(engine), "head")
