"""Issue 25 item 6: a JSON Schema whose ``$ref`` points nowhere is refused when the request arrives.

``check_schema`` alone let ``{"$ref": "#/$defs/Missing"}`` through; the schema gate then raised on the
model's answer, so the model was paid 3-4 times (the queue's retries), $0 was booked and the client got
a false error (a 202 where a 422 was due; a 504 after 19 ms on the drop-in). Now: a 422 (400 in the
OpenAI wire format) naming the field, and the fake Messages API never called. The drop-in endpoints'
cases are in tests/test_gateway_errors.py.
"""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.gates.schema import schema_problem
from app.store import Request
from tests.test_fallback_api import app  # noqa: F401  (the /v1/fallback app fixture)

DANGLING = {"type": "object", "properties": {"label": {"$ref": "#/$defs/Label"}}, "required": ["label"]}
REMOTE = {"type": "object", "properties": {"label": {"$ref": "http://127.0.0.1:9/label.json"}}}
RESOLVED = {"type": "object", "properties": {"label": {"$ref": "#/$defs/Label"}},
            "$defs": {"Label": {"enum": ["B2B", "B2C"]}}}


def test_only_references_into_the_schema_itself_resolve():
    assert "'#/$defs/Label' does not resolve" in schema_problem(DANGLING)
    assert "does not resolve" in schema_problem(REMOTE)  # never fetched by a worker
    assert schema_problem(RESOLVED) is None
    assert schema_problem({**RESOLVED, "$schema": "http://json-schema.org/draft-07/schema#",
                           "definitions": RESOLVED["$defs"],
                           "properties": {"label": {"$ref": "#/definitions/Label"}}}) is None
    assert schema_problem({"type": "object", "properties": {"tree": {"$ref": "#"}}}) is None  # recursive


@pytest.mark.parametrize("schema", [DANGLING, REMOTE], ids=["dangling", "remote"])
@pytest.mark.parametrize("exec_mode", ["sync", "async"])
def test_fallback_refuses_an_unresolvable_ref_with_422_before_any_model_call(app, auth, fake_anthropic, schema,  # noqa: F811
                                                                             exec_mode):
    response = app.test_client().post("/v1/fallback", headers=auth, json={
        "task_type": "extraction", "text": "ACME GmbH, 40 seats", "exec": exec_mode, "output_schema": schema})
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["field"] == "output_schema" and "does not resolve" in error["message"]
    assert fake_anthropic.requests == []
    with app.extensions["store"].session() as session:
        assert session.scalars(select(Request)).all() == []
