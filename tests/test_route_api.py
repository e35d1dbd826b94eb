"""POST /v1/route: the contract fields, JSON and form bodies, the stored decision."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.store import Decision

CONTRACT_FIELDS = {"decision_id", "tier", "model", "task_type", "task_type_source", "confidence", "reasons",
                   "decided_by", "input_tokens", "estimated_cost_usd", "baseline_cost_usd"}


def test_json_route_answers_contract_and_stores_decision(client, auth, app):
    response = client.post("/v1/route", json={"task_type": "classification", "text": "Acme GmbH, B2B?",
                                              "metadata": {"row": 7}}, headers=auth)
    assert response.status_code == 200
    body = response.get_json()
    assert CONTRACT_FIELDS <= body.keys()
    assert (body["tier"], body["model"], body["task_type_source"], body["decided_by"]) == (
        "tier1", "claude-haiku-4-5", "given", "rules")
    assert body["reasons"] == [{"rule": "task_type", "detail": "classification -> tier1"}]
    assert body["metadata"] == {"row": 7}
    with app.extensions["store"].session() as session:
        stored = session.scalar(select(Decision).where(Decision.id == body["decision_id"]))
        assert stored is not None and stored.tier == "tier1" and stored.request_metadata == {"row": 7}


def test_form_encoded_route_like_zapier(client, auth):
    response = client.post("/v1/route", data={"task_type": "classification", "text": "Label this lead",
                                              "external": "false", "risk": "low", "metadata[row]": "12"},
                           headers={**auth, "User-Agent": "Zapier"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["tier"] == "tier1" and body["metadata"] == {"row": "12"}


def test_form_booleans_apply_the_external_rule(client, auth):
    body = client.post("/v1/route", data={"task_type": "classification", "text": "hi", "external": "true"},
                       headers=auth).get_json()
    assert [reason["rule"] for reason in body["reasons"]] == ["task_type", "external"]
    assert body["needs_review"] is True


def test_inferred_task_type_is_reported_as_rules(client, auth):
    body = client.post("/v1/route", json={"text": "Please summarize these meeting notes: ...", "mode": "rules"},
                       headers=auth).get_json()
    assert (body["task_type"], body["task_type_source"], body["tier"]) == ("summary", "rules", "tier2")


def test_free_text_without_mode_is_placed_by_the_learned_router(client, auth):
    body = client.post("/v1/route", json={"text": "Please summarize these meeting notes: ..."}, headers=auth).get_json()
    assert (body["task_type"], body["task_type_source"], body["decided_by"], body["tier"]) == (
        "summary", "learned", "learned", "tier2")
    assert body["router_cost_usd"] == 0 and body["router_request_id"] is None


def test_costs_are_estimated_from_prices(client, auth):
    text = "x" * 4000  # 1000 tokens by the 4-chars-per-token estimate
    body = client.post("/v1/route", json={"task_type": "classification", "text": text}, headers=auth).get_json()
    assert body["input_tokens"] == 1000
    # classification expects 40 output tokens: Haiku 1000*1 + 40*5 per million; Sonnet 1000*3 + 40*15.
    assert body["estimated_cost_usd"] == pytest.approx(0.0012)
    assert body["baseline_cost_usd"] == pytest.approx(0.0036)


def test_messages_input_is_accepted(client, auth):
    body = client.post("/v1/route", json={"task_type": "summary", "messages": [
        {"role": "user", "content": "Summarise this thread please"}]}, headers=auth).get_json()
    assert body["tier"] == "tier2"
