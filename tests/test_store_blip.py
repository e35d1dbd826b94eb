"""Issue 25 item 9: with a paid answer in hand, a database blip retries the store, not the model.

A sync /v1/fallback request is served on a real socket; while its model call is out, the database goes
away: on PostgreSQL the test database refuses connections and every open one is terminated
(``pg_terminate_backend``) for 3 s, as in a restart; on SQLite another connection holds the write lock past the busy timeout. The
answer is stored once the database is back: one model call, the request ``done``, the caller answered
200, where landed main handed the request back (202) to be paid for again.
"""
from __future__ import annotations

import sqlite3
import threading
import time

import psycopg
import psycopg.sql
import pytest
import requests
from sqlalchemy import make_url, select

from app.store import Request
from app.store.db import SQLITE_BUSY_TIMEOUT_MS
from tests.support.fake_anthropic import Reply
from tests.support.gateway_app import app, fake_openai, gateway_policy, server  # noqa: F401

SONNET = "claude-sonnet-4-6"  # summary runs on tier2
PG_OUTAGE_SECONDS = 3.0
SQLITE_LOCK_SECONDS = SQLITE_BUSY_TIMEOUT_MS / 1000 + 2  # past the busy timeout: the commit fails


def restart_like_outage(url: str, seconds: float) -> None:
    """The test database refuses connections and every open one is cut, for ``seconds`` (a restart)."""
    target = make_url(url)
    admin_url = target.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        name = psycopg.sql.Identifier(target.database)
        admin.execute(psycopg.sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(name))
        try:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                          (target.database,))
            time.sleep(seconds)
        finally:
            admin.execute(psycopg.sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(name))


def hold_the_write_lock(path: str, seconds: float) -> None:
    """Another connection takes SQLite's write lock and keeps it past the busy timeout."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    time.sleep(seconds)
    holder.execute("COMMIT")
    holder.close()


@pytest.fixture
def blip(database_url):
    """Starts the database fault in the background; the test calls it when the model call is out."""
    if database_url.startswith("postgresql"):
        fault = threading.Thread(target=restart_like_outage, args=(database_url, PG_OUTAGE_SECONDS))
    else:
        fault = threading.Thread(target=hold_the_write_lock, args=(make_url(database_url).database,
                                                                   SQLITE_LOCK_SECONDS))
    yield fault
    fault.join(timeout=60)


@pytest.mark.parametrize("app", [{"TIERGATE_SYNC_WAIT_SECONDS": 25}], indirect=True)
def test_a_database_blip_with_the_answer_in_hand_retries_the_store_not_the_model(app, server, make_key,
                                                                                  fake_anthropic, blip):
    fake_anthropic.script(SONNET, Reply.hang(1.0, "Ship on Friday."))
    headers = {"X-API-Key": make_key(["fallback"])}
    pending = threading.Thread(target=lambda: answers.append(requests.post(
        server + "/v1/fallback", json={"task_type": "summary", "text": "meeting notes: ship on friday"},
        headers=headers, timeout=60)))
    answers: list[requests.Response] = []
    pending.start()
    deadline = time.monotonic() + 10
    while not fake_anthropic.requests:  # the model call is out: the answer will be in hand in 1 s
        assert time.monotonic() < deadline, "the request never reached the model"
        time.sleep(0.01)
    blip.start()
    pending.join(timeout=60)
    blip.join(timeout=60)  # the database is back before the ledger is read

    (answer,) = answers
    assert answer.status_code == 200, answer.text[:300]
    assert answer.json()["status"] == "done" and answer.json()["output"] == "Ship on Friday."
    assert len(fake_anthropic.requests) == 1  # the model was paid once
    with app.extensions["store"].session() as session:
        row = session.scalar(select(Request))
        assert row.status == "done" and len(list(row.attempts)) == 1
