"""Issue 25 item 6, second half: a gate that raises is a failed gate, never a crashed run.

The request check refuses a ``$ref`` that points nowhere (tests/test_schema_refs.py), but leaves alone a
sub-schema that names its own ``$id`` (its relative references have another base). One such sub-schema
whose ``$ref`` resolves nowhere passes the check, and the schema gate raised on the model's answer: the
run crashed after a paid call, the request was handed to the workers and re-run, and the calls were not
in the ledger. Now the gate fails, the cascade goes on as for any failed gate, and every paid call is an
attempt with its cost.
"""
from __future__ import annotations

import json
from decimal import Decimal

from sqlalchemy import select

from app.store import Attempt, Request
from tests.support.fake_anthropic import Reply
from tests.test_fallback_api import app  # noqa: F401  (the /v1/fallback app fixture)

MODELS = ("claude-haiku-4-5", "claude-sonnet-4-6", "claude-opus-4-7")
# "#/$defs/Label" resolves, so the request is accepted; the Label sub-schema's own $ref does not.
OWN_ID = {"type": "object", "properties": {"label": {"$ref": "#/$defs/Label"}}, "required": ["label"],
          "$defs": {"Label": {"$id": "urn:example:label", "$ref": "urn:example:missing"}}}


def test_a_gate_that_raises_fails_its_check_and_every_paid_call_is_stored(app, auth, fake_anthropic):  # noqa: F811
    for model in MODELS:
        fake_anthropic.script(model, *[Reply.ok(json.dumps({"label": "B2B"}))] * 2)

    response = app.test_client().post("/v1/fallback", headers=auth, json={
        "task_type": "extraction", "text": "ACME GmbH, 40 seats", "exec": "sync", "output_schema": OWN_ID})

    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    # As for any failed schema check: one retry on tier1, then up to the top tier, whose draft goes to review.
    assert answer["status"] == "needs_review" and answer["escalated"] is True
    assert [request.model for request in fake_anthropic.requests] == [MODELS[0], MODELS[0], *MODELS[1:]]
    calls = len(fake_anthropic.requests)
    with app.extensions["store"].session() as session:
        row = session.get(Request, answer["request_id"])
        attempts = session.scalars(select(Attempt).where(Attempt.request_id == row.id).order_by(Attempt.seq)).all()
    assert row.status == answer["status"]
    assert len(attempts) == calls  # one stored attempt per paid call, no re-run
    assert all(attempt.cost_usd > 0 for attempt in attempts)
    assert sum((attempt.cost_usd for attempt in attempts), Decimal(0)) == row.cost_usd
    assert {attempt.gate for attempt in attempts} == {"schema"}
    assert all("schema gate could not check the answer" in attempt.reason for attempt in attempts)
