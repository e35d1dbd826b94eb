"""The per-process budget view: a request without a budget runs no budget SQL, a budget set anywhere (another
app, the CLI in another process, this process while Redis is away) applies to the next request, and a crowd
of callers after a change reloads the view once, on one spare connection."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from decimal import Decimal

from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import create_engine, event
from sqlalchemy.orm import sessionmaker

from app import create_app
from app.api.auth import create_key
from app.money.budget_view import GENERATION_KEY, watch_budgets
from app.money.budgets import budgets_for, set_budget
from app.store import Store
from app.store.models import Budget
from bench.harness import free_port
from tests.test_fallback_api import app, fallback_settings  # noqa: F401  (fixture)

SPENT = Decimal("0.000001")  # no call fits
CALLERS = 24


def new_key(app, scopes=("fallback",)) -> tuple[int, dict[str, str]]:
    with app.extensions["store"].session() as session:
        key, plain = create_key(session, "viewed", list(scopes))
        return key.id, {"X-API-Key": plain}


def sync_task(workflow: str = "leads") -> dict:
    return {"task_type": "classification", "text": "Acme GmbH: B2B or B2C?", "exec": "sync",
            "metadata": {"workflow": workflow}}


class Statements:
    """The SQL an engine runs while the block is open."""

    def __init__(self, engine):
        self.engine, self.seen = engine, []

    def _record(self, _conn, _cursor, statement, *_args):
        self.seen.append(statement)

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *_exc):
        event.remove(self.engine, "before_cursor_execute", self._record)

    def touching(self, *fragments: str) -> list[str]:
        return [s for s in self.seen if any(fragment in s for fragment in fragments)]


def test_a_request_without_a_budget_runs_no_budget_sql(app, fake_anthropic):
    client = app.test_client()
    _, headers = new_key(app)
    assert client.post("/v1/fallback", headers=headers, json=sync_task()).status_code == 200  # warm
    with Statements(app.extensions["store"].engine) as sql:
        answer = client.post("/v1/fallback", headers=headers, json=sync_task())
    assert answer.status_code == 200, answer.get_json()
    assert sql.seen, "the request wrote its ledger rows"
    assert sql.touching("budgets", "budget_holds") == []
    # nor the request row read back for its key and workflow
    assert sql.touching("SELECT requests.api_key_id, requests.workflow") == []


def test_a_request_reads_its_key_and_budget_generations_in_one_redis_round_trip(app, fake_anthropic):
    client = app.test_client()
    _, headers = new_key(app)
    assert client.post("/v1/fallback", headers=headers, json=sync_task()).status_code == 200  # warm
    redis = app.extensions["runtime"].redis
    before = redis.info("commandstats")
    assert client.post("/v1/fallback", headers=headers, json=sync_task()).status_code == 200
    after = redis.info("commandstats")

    def calls(command: str) -> int:
        return (after.get(f"cmdstat_{command}", {}).get("calls", 0)
                - before.get(f"cmdstat_{command}", {}).get("calls", 0))

    assert calls("mget") == 1 and calls("get") == 0


def test_a_budget_set_through_another_app_refuses_this_apps_next_request(app, fake_anthropic):
    client = app.test_client()
    key_id, headers = new_key(app)
    assert client.post("/v1/fallback", headers=headers, json=sync_task()).status_code == 200
    other = create_app(app.config["TIERGATE"], migrate=False)
    try:
        with other.extensions["store"].session() as session:
            set_budget(session, "api_key", str(key_id), SPENT)
    finally:
        other.extensions["store"].dispose()
    refused = client.post("/v1/fallback", headers=headers, json=sync_task())
    assert refused.status_code == 402, refused.get_json()
    assert refused.get_json()["error"]["code"] == "budget_exhausted"


def test_a_budget_set_by_the_cli_in_another_process_refuses_the_next_request(app, fake_anthropic, project_root):
    client = app.test_client()
    _, headers = new_key(app)
    assert client.post("/v1/fallback", headers=headers, json=sync_task("invoices")).status_code == 200
    settings = app.config["TIERGATE"]
    env = {**os.environ, "DATABASE_URL": settings.database_url or settings.sqlalchemy_url,
           "TIERGATE_DATA_DIR": str(settings.data_dir), "REDIS_URL": settings.redis_url or "",
           "PYTHONPATH": str(project_root)}
    done = subprocess.run([sys.executable, "-m", "app.cli", "budgets", "set", "--workflow", "invoices", "--usd",
                           str(SPENT)], env=env, cwd=project_root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    refused = client.post("/v1/fallback", headers=headers, json=sync_task("invoices"))
    assert refused.status_code == 402, refused.get_json()
    assert "workflow invoices" in refused.get_json()["error"]["message"]
    assert client.post("/v1/fallback", headers=headers, json=sync_task("other")).status_code == 200


def test_while_redis_is_away_the_last_view_serves_and_local_changes_still_apply(settings):
    store = Store(settings.sqlalchemy_url)
    away = Redis(host="127.0.0.1", port=free_port(), retry=Retry(NoBackoff(), 0))  # nothing listens there
    try:
        watch_budgets(store, away)
        budgets = budgets_for(store)
        with Statements(store.engine) as sql:
            for _ in range(20):
                assert budgets.applicable(7, "leads") == []
        assert sql.touching("budgets") == [], "the view serves during the outage, not the database"
        with store.session() as session:
            budget_id = set_budget(session, "workflow", "leads", Decimal("5")).id
        assert budgets.applicable(7, "leads") == [budget_id]  # this process's own change, seen at once
    finally:
        store.dispose()


def test_a_crowd_after_a_change_reloads_once_on_one_spare_connection(settings, redis_conn):
    """Each caller holds a pooled connection (its request's own session) when it asks; the view's reload
    may take only one more, however many ask at once (they wait for it), and every one of them sees the
    budget set before it asked."""
    store = Store(settings.sqlalchemy_url)
    store.engine.dispose()
    store.engine = create_engine(settings.sqlalchemy_url, pool_size=2 * CALLERS, max_overflow=0, pool_timeout=5)
    store.sessions = sessionmaker(store.engine, expire_on_commit=False)
    out, peak, lock = [0], [0], threading.Lock()

    def checkout(*_args):
        with lock:
            out[0] += 1
            peak[0] = max(peak[0], out[0])

    def checkin(*_args):
        with lock:
            out[0] -= 1

    def slow_database(_conn, _cursor, statement, *_args):
        if "FROM budgets" in statement:
            time.sleep(0.3)  # a loaded database: the others ask while the reload is still running

    event.listen(store.engine, "checkout", checkout)
    event.listen(store.engine, "checkin", checkin)
    event.listen(store.engine, "before_cursor_execute", slow_database)
    try:
        watch_budgets(store, redis_conn)
        other = Store(settings.sqlalchemy_url)
        watch_budgets(other, redis_conn, load=False)
        with other.session() as session:
            budget_id = set_budget(session, "api_key", "42", Decimal("5")).id
        other.dispose()
        assert redis_conn.get(GENERATION_KEY) is not None
        gate, errors, seen = threading.Barrier(CALLERS), [], []

        def caller():
            try:
                with store.engine.connect() as held:  # the caller's own connection, held throughout
                    held.exec_driver_sql("SELECT 1")
                    gate.wait()
                    seen.append(budgets_for(store).applicable(42, None))
                    gate.wait()
            except Exception as exc:  # noqa: BLE001  (reported below)
                errors.append(exc)

        threads = [threading.Thread(target=caller) for _ in range(CALLERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        assert peak[0] <= CALLERS + 1, f"{peak[0]} connections out for {CALLERS} callers"
        # none of them went on with the view it knew to be stale (a budget set before they asked)
        assert seen == [[budget_id]] * CALLERS
        assert budgets_for(store).applicable(42, None) == [budget_id]
    finally:
        store.dispose()


def test_a_sync_request_is_guarded_on_the_budgets_it_was_admitted_on(app, fake_anthropic):
    """Admitted and run in the same process: the run's guard takes the admission's budgets (no second
    look-up, no read of the request row) and books the call on them."""
    client = app.test_client()
    key_id, headers = new_key(app)
    with app.extensions["store"].session() as session:
        budget_id = set_budget(session, "api_key", str(key_id), Decimal("5")).id
    assert client.post("/v1/fallback", headers=headers, json=sync_task()).status_code == 200  # warm
    with Statements(app.extensions["store"].engine) as sql:
        answer = client.post("/v1/fallback", headers=headers, json=sync_task())
    assert answer.status_code == 200, answer.get_json()
    assert sql.touching("SELECT requests.api_key_id, requests.workflow") == []
    assert sql.touching("FROM budgets") == []  # the view, not a query, found the budget
    assert sql.touching("UPDATE budgets"), "the call was held and booked on the budget"
    with app.extensions["store"].session() as session:
        budget = session.get(Budget, budget_id)
        assert Decimal(str(budget.spent_usd)) > 0 and Decimal(str(budget.reserved_usd)) == 0


def test_while_redis_is_away_a_request_holds_one_pooled_connection_at_a_time(tmp_path, database_url, fake_anthropic,
                                                                              monkeypatch):
    """With Redis away the key is looked up in the database and the view reloads (here on every request,
    as it does every few seconds of an outage). A request holding one pooled connection while it waits
    for another deadlocks the pool once more requests than connections are in flight: a Redis outage
    mid-burst stalled every request for the pool's 30 s timeout. One at a time, the pool cannot run dry.
    The process's group commit holds one connection of its own for good (``app.store.group_commit``), taken
    by its first flush and not a request's; no request waits for another to let go of it."""
    monkeypatch.setattr("app.money.budget_view.OUTAGE_REFRESH_SECONDS", 0.0)
    away = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    application = create_app(fallback_settings(tmp_path, away, database_url, fake_anthropic), migrate=False)
    store = application.extensions["store"]
    out, peak = [0], [0]

    def checkout(*_args):
        out[0] += 1
        peak[0] = max(peak[0], out[0])

    def checkin(*_args):
        out[0] -= 1

    try:
        with store.session() as session:
            _key, plain = create_key(session, "outage", ["fallback"])
        store.group_commit.write(lambda _connection: None)  # the committer takes its connection, before counting
        committers = store.group_commit._held._connection
        event.listen(store.engine, "checkout", checkout)
        event.listen(store.engine, "checkin", checkin)
        with application.test_client() as client:
            for _ in range(2):
                answer = client.post("/v1/fallback", headers={"X-API-Key": plain},
                                     json={**sync_task(), "exec": "async"})
                assert answer.status_code == 202, answer.get_json()
        assert store.group_commit._held._connection is committers, "every flush went on the committer's connection"
        assert peak[0] == 1, f"one request held {peak[0]} pooled connections at once"
    finally:
        store.dispose()
