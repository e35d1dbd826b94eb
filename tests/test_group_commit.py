"""The group commit: writes that wait together share one transaction, and one write's error is its own."""
from __future__ import annotations

import os
import threading
from decimal import Decimal

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import IntegrityError

from app.store import Decision, Store
from app.store.group_commit import GroupCommit
from app.store.models import column_row


@pytest.fixture
def store(database_url):
    store = Store(database_url)
    yield store
    store.dispose()


def _decision(decision_id: str) -> dict:
    return column_row(Decision, dict(
        id=decision_id, api_key_id=None, mode="rules", task_type="summary", task_type_source="given",
        decided_by="rules", tier="tier1", model="m", confidence=1.0, risk="low", external=False, needs_review=False,
        reasons=[], input_tokens=1, estimated_cost_usd=Decimal("0.00000001"), baseline_cost_usd=Decimal("0.123456789"),
        request_metadata={"row": decision_id}))


def _queued_behind_a_flush(committer: GroupCommit, writes: list) -> list:
    """Run ``writes`` (callables) while a first write holds the flush, so they wait and go in one batch;
    returns each one's result or exception."""
    started, release = threading.Event(), threading.Event()

    def hold(_connection):
        started.set()
        release.wait(10)

    first = threading.Thread(target=committer.write, args=(hold,))
    first.start()
    started.wait(10)
    results: list = [None] * len(writes)

    def run(index, write):
        try:
            results[index] = write()
        except Exception as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(index, write)) for index, write in enumerate(writes)]
    for thread in threads:
        thread.start()
    while len(committer._pending) < len(writes):  # all queued behind the held flush
        threading.Event().wait(0.01)
    release.set()
    for thread in [first, *threads]:
        thread.join(10)
    return results


def test_writes_waiting_together_share_one_commit(store):
    committer = GroupCommit(store)
    commits = []
    event.listen(store.engine, "commit", lambda _conn: commits.append(1))
    table = Decision.__table__
    results = _queued_behind_a_flush(committer, [
        lambda: committer.write(rows=[(table, _decision("dec_a"))]),
        lambda: committer.write(rows=[(table, _decision("dec_b"))]),
        lambda: committer.write(lambda connection: connection.scalar(select(func.count()).select_from(table))),
    ])
    assert commits == [1, 1]  # the held flush, then the three queued writes together
    assert results[2] == 2  # the work ran in the batch, after its rows
    with store.session() as session:
        stored = session.execute(select(Decision.id, Decision.baseline_cost_usd, Decision.request_metadata)
                                 .order_by(Decision.id)).all()
    # Money through the Core INSERT is the ledger's exact 8 places, the renamed metadata column is filled.
    assert [(row.id, row.baseline_cost_usd, row.request_metadata) for row in stored] == [
        ("dec_a", Decimal("0.12345679"), {"row": "dec_a"}), ("dec_b", Decimal("0.12345679"), {"row": "dec_b"})]


def test_one_write_failing_does_not_fail_the_others_in_its_batch(store):
    committer = GroupCommit(store)
    table = Decision.__table__
    committer.write(rows=[(table, _decision("dec_taken"))])
    results = _queued_behind_a_flush(committer, [
        lambda: committer.write(rows=[(table, _decision("dec_new"))]),
        lambda: committer.write(rows=[(table, _decision("dec_taken"))]),  # the same primary key again
        lambda: committer.write(rows=[(table, _decision("dec_other"))]),
    ])
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], IntegrityError)
    with store.session() as session:
        assert sorted(session.scalars(select(Decision.id))) == ["dec_new", "dec_other", "dec_taken"]


GEVENT_FLUSH_BEHIND_A_HELD_LOCK = r"""
from gevent import monkey; monkey.patch_all()
import fcntl, json, os, sys, time
import gevent
from sqlalchemy import func, select
from app.store import Decision, Store
from tests.test_group_commit import _decision

store, lock_path = Store(sys.argv[1]), sys.argv[2]
other = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)  # another process's flush holds the writer lock
fcntl.flock(other, fcntl.LOCK_EX)
ticks, done = [], []
def flush():
    store.group_commit.write(rows=[(Decision.__table__, _decision("dec_held"))])
    done.append(time.monotonic())
def tick():
    while not done:
        ticks.append(time.monotonic())
        gevent.sleep(0.01)
flusher, ticker = gevent.spawn(flush), gevent.spawn(tick)
gevent.sleep(0.3)
stored_while_held = not flusher.dead
released = time.monotonic()
fcntl.flock(other, fcntl.LOCK_UN)
flusher.join(10)
with store.session() as session:
    count = session.scalar(select(func.count()).select_from(Decision))
print(json.dumps({"waited": stored_while_held, "after_release": done[0] >= released, "ticks": len(ticks),
                  "count": count}))
"""


def test_a_flush_on_sqlite_waits_for_the_writer_lock_without_stopping_the_event_loop(database_url, tmp_path):
    """Another process's flush holds the database's writer lock: this process's flush waits for it in a
    native thread, and its other greenlets (a /v1/route, /healthz) keep running meanwhile."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    from sqlalchemy import make_url

    from app.store.group_commit import WRITER_LOCK_SUFFIX

    if not database_url.startswith("sqlite"):
        pytest.skip("the writer lock is SQLite's (PostgreSQL has row locks and no busy handler)")
    script = tmp_path / "held.py"
    script.write_text(GEVENT_FLUSH_BEHIND_A_HELD_LOCK)
    lock_path = f"{make_url(database_url).database}{WRITER_LOCK_SUFFIX}"
    out = subprocess.run([sys.executable, str(script), database_url, lock_path], capture_output=True, text=True,
                         timeout=60, cwd=Path(__file__).resolve().parent.parent,
                         env={**__import__("os").environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["waited"] and result["after_release"]  # nothing written while the other writer held it
    assert result["ticks"] >= 20  # 10 ms ticks all through the 300 ms wait: the loop was not blocked
    assert result["count"] == 1


def test_flushes_of_two_committers_on_one_sqlite_file_take_turns(database_url):
    """Two processes' committers (here: two stores on one file) never flush at the same time."""
    if not database_url.startswith("sqlite"):
        pytest.skip("the writer lock is SQLite's")
    first, second = Store(database_url), Store(database_url)
    inside, overlaps = [], []

    def work(name):
        def run(_connection):
            if inside:
                overlaps.append((name, list(inside)))
            inside.append(name)
            threading.Event().wait(0.05)
            inside.remove(name)
        return run

    try:
        threads = [threading.Thread(target=store.group_commit.write, args=(work(f"{n}-{i}"),))
                   for i in range(3) for n, store in (("a", first), ("b", second))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    finally:
        first.dispose()
        second.dispose()
    assert overlaps == []


def test_a_write_returns_after_its_flush_has_let_go_of_the_writer_lock(database_url, caplog):
    """A writer that disposes of its store as soon as its write returns (a test's teardown, a process
    shutting down) closes the writer lock's file; the flush that committed the write (here a second
    flush, run by a thread of its own) must be done with that file by then. It once let go of the lock
    after waking its writers, and failed on the closed file now and then."""
    if not database_url.startswith("sqlite"):
        pytest.skip("the writer lock is SQLite's")
    failures: list[BaseException] = []
    default_hook = threading.excepthook
    threading.excepthook = lambda args: failures.append(args.exc_value)
    try:
        for _ in range(300):  # the race it guards against showed once in a few hundred rounds
            store = Store(database_url)
            committer = store.group_commit
            assert _queued_behind_a_flush(committer, [lambda: committer.write(lambda _connection: "stored")]) == ["stored"]
            store.dispose()
            for thread in threading.enumerate():
                if thread.name == "tiergate-group-commit":
                    thread.join(10)
    finally:
        threading.excepthook = default_hook
    assert failures == []
    assert not [record for record in caplog.records if "writer lock" in record.getMessage()]


def _cut(store, committer: GroupCommit) -> None:
    """End the committer's held connection from outside, as a database restart or a proxy would."""
    held = committer._held._connection
    if store.engine.dialect.name == "postgresql":
        pid = held.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        held.rollback()
        with store.engine.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    else:
        held.connection.dbapi_connection.close()  # SQLite has no server: the file handle goes away instead


def test_flushes_share_one_held_connection_and_a_cut_one_is_replaced_without_losing_a_write(store):
    """Flushes of a process go on one connection it holds (no pool checkout per flush); when the database
    has closed it meanwhile (a restart), the next write still commits, on a new connection."""
    committer = GroupCommit(store)
    checkouts = []
    event.listen(store.engine, "checkout", lambda *_args: checkouts.append(1))
    table = Decision.__table__
    committer.write(rows=[(table, _decision("dec_first"))])
    committer.write(rows=[(table, _decision("dec_second"))])
    assert checkouts == [1]
    _cut(store, committer)
    checkouts.clear()
    committer.write(rows=[(table, _decision("dec_after_cut"))])
    assert committer.write(lambda connection: connection.scalar(select(func.count()).select_from(table))) == 3
    assert checkouts == [1]  # the cut one's replacement, kept for the count just above
    committer.close()


def test_a_failed_write_leaves_the_held_connection_in_use(store):
    """A write refused by the database (a primary key taken) rolls its transaction back; the connection is
    fine and the next flush goes on it."""
    committer = GroupCommit(store)
    table = Decision.__table__
    committer.write(rows=[(table, _decision("dec_taken"))])
    held = committer._held._connection
    with pytest.raises(IntegrityError):
        committer.write(rows=[(table, _decision("dec_taken"))])
    committer.write(rows=[(table, _decision("dec_next"))])
    assert committer._held._connection is held
    committer.close()


def test_a_forked_child_flushes_on_a_connection_of_its_own(store):
    """gunicorn and RQ fork: a child using (or closing) the parent's held connection would share its socket
    or end its session. The child opens its own; the parent's goes on working."""
    committer = store.group_commit
    table = Decision.__table__
    committer.write(rows=[(table, _decision("dec_parent"))])
    parents = committer._held._connection
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through its exit code
        code = 1
        try:
            store.engine.dispose(close=False)  # SQLAlchemy's advice for a child: none of the parent's pool
            committer.write(rows=[(table, _decision("dec_child"))])
            code = 0 if committer._held._connection is not parents else 2
        finally:
            os._exit(code)
    _pid, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    committer.write(rows=[(table, _decision("dec_parent_again"))])
    assert committer._held._connection is parents
    with store.session() as session:
        assert sorted(session.scalars(select(Decision.id))) == ["dec_child", "dec_parent", "dec_parent_again"]
