"""Prepared ledger statements store exactly what ``Connection.execute`` of the same Core statement stores, and
fail the same way."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy import bindparam, event, select
from sqlalchemy.exc import IntegrityError

from app.store import Attempt, Request, Store
from app.store.models import column_row
from app.store.prepared import Prepared

REQUESTS, ATTEMPTS = Request.__table__, Attempt.__table__
MOMENT = datetime(2026, 12, 6, 17, 0, 1, 123456, tzinfo=timezone.utc)


@pytest.fixture
def store(database_url):
    store = Store(database_url)
    yield store
    store.dispose()


def _request(request_id: str, **values) -> dict:
    """A request row with JSON (an empty dict, nested values, a JSON null), money, a time and a flag; the
    columns left out take their Python-side defaults."""
    return column_row(Request, dict(dict(
        id=request_id, kind="fallback", task_type="summary", status="running", owner="me", lease_until=MOMENT,
        payload={"text": "ünïcode", "n": [1, 2.5, None]}, result=None, escalated=True,
        cost_usd=Decimal("0.123456789"), baseline_input_price=Decimal("3"), latency_ms=12.5,
        request_metadata={}), **values))


def _stored(store, table, key) -> dict:
    with store.engine.connect() as connection:
        return dict(connection.execute(select(table).where(key)).mappings().one())


def test_an_insert_stores_what_connection_execute_stores(store):
    with store.engine.begin() as connection:
        connection.execute(REQUESTS.insert(), [_request("req_core")])
        Prepared(REQUESTS.insert()).run(connection, [_request("req_prepared")])
        Prepared(ATTEMPTS.insert()).run(connection, [  # an executemany, SQL-default id, Python-default times
            column_row(Attempt, dict(request_id="req_prepared", seq=seq, tier="tier1", model="m", ok=seq == 1,
                                     gate_results=[{"gate": "g", "passed": True}], cost_usd=Decimal("0.00000001")))
            for seq in (1, 2)])
        connection.execute(ATTEMPTS.insert(), [column_row(Attempt, dict(
            request_id="req_core", seq=1, tier="tier1", model="m", ok=True, gate_results=[{"gate": "g", "passed": True}],
            cost_usd=Decimal("0.00000001")))])
    core, prepared = _stored(store, REQUESTS, REQUESTS.c.id == "req_core"), _stored(store, REQUESTS, REQUESTS.c.id == "req_prepared")
    assert core.pop("created_at") is not None and prepared.pop("created_at") is not None
    assert {**prepared, "id": "req_core"} == core
    assert prepared["result"] is None and prepared["payload"] == {"text": "ünïcode", "n": [1, 2.5, None]}
    assert prepared["cost_usd"] == Decimal("0.12345679") and prepared["review_reasons"] == []
    with store.engine.connect() as connection:
        attempts = [dict(row) for row in connection.execute(select(ATTEMPTS).order_by(ATTEMPTS.c.id)).mappings()]
    assert [row["seq"] for row in attempts] == [1, 2, 1] and len({row["id"] for row in attempts}) == 3
    for row in attempts:
        row.pop("id"), row.pop("request_id"), row.pop("created_at"), row.pop("seq"), row.pop("ok")
    assert attempts[0] == attempts[1] == attempts[2]


def test_an_update_with_values_in_its_where_clause_matches_as_connection_execute_does(store):
    finish = REQUESTS.update().where(REQUESTS.c.id == bindparam("_id"), REQUESTS.c.status == "running")
    with store.engine.begin() as connection:
        connection.execute(REQUESTS.insert(), [_request("req_a"), _request("req_b")])
        assert Prepared(finish).run(connection, {"_id": "req_a", "status": "done", "result": {"answer": 1},
                                                 "finished_at": MOMENT}).rowcount == 1
        assert Prepared(finish).run(connection, {"_id": "req_a", "status": "failed"}).rowcount == 0  # not running now
        connection.execute(finish, {"_id": "req_b", "status": "done", "result": {"answer": 1}, "finished_at": MOMENT})
    assert ({**_stored(store, REQUESTS, REQUESTS.c.id == "req_a"), "id": None, "created_at": None}
            == {**_stored(store, REQUESTS, REQUESTS.c.id == "req_b"), "id": None, "created_at": None})


def test_a_broken_unique_index_is_sqlalchemys_integrity_error_and_listeners_see_the_sql(store):
    """Callers catch ``sqlalchemy.exc.IntegrityError`` (an Idempotency-Key used twice); listeners on the engine
    (tests, tracing) still see every statement."""
    seen = []
    event.listen(store.engine, "before_cursor_execute", lambda _c, _cur, statement, *_a: seen.append(statement))
    insert = Prepared(REQUESTS.insert())
    with store.engine.begin() as connection:
        insert.run(connection, _request("req_once"))
    with pytest.raises(IntegrityError), store.engine.begin() as connection:
        insert.run(connection, _request("req_once"))
    assert len([statement for statement in seen if statement.startswith("INSERT INTO requests")]) == 2
