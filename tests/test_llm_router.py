"""``llm`` and ``hybrid`` routing through /v1/route, with the router model behind the fake Messages API."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from app.store import Attempt, Request
from tests.support.fake_anthropic import Reply
from tests.test_classify import HAIKU, app  # noqa: F401  (the app fixture with a provider key)


def router_says(fake, tier="tier1", task_type="classification", confidence=0.9, reason="fixed format"):
    fake.script(HAIKU, json.dumps({"tier": tier, "task_type": task_type, "reason": reason, "confidence": confidence}))


def route(client, auth, **body):
    response = client.post("/v1/route", json=body, headers=auth)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def rules_of(body) -> list[str]:
    return [reason["rule"] for reason in body["reasons"]]


def router_ledger(app):
    with app.extensions["store"].session() as session:
        rows = session.scalars(select(Request).where(Request.kind == "route")).all()
        attempts = session.scalars(select(Attempt).where(Attempt.purpose == "router")).all()
        return rows, attempts


def test_llm_mode_places_the_request_and_records_the_router_cost(client, auth, app, fake_anthropic):
    router_says(fake_anthropic, "tier1", "extraction", 0.92, "fixed-format field extraction")
    body = route(client, auth, text="Get me the street and the postcode out of this letter: ...", mode="llm")
    assert (body["tier"], body["task_type"], body["task_type_source"], body["decided_by"]) == (
        "tier1", "extraction", "llm", "llm")
    assert body["confidence"] == 0.92 and rules_of(body) == ["llm_router"]
    assert "fixed-format field extraction" in body["reasons"][0]["detail"]
    (row,), (attempt,) = router_ledger(app)
    assert (attempt.model, attempt.ok, attempt.baseline_cost_usd) == (HAIKU, True, 0)
    assert row.cost_usd == attempt.cost_usd > 0 and row.baseline_cost_usd == 0  # pure overhead
    (call,) = fake_anthropic.requests_for(HAIKU)
    rubric = call.prefix_system
    for question in ("multi-step reasoning", "sent to a customer", "money, law, medicine or security", "6,000 tokens"):
        assert question in rubric
    assert "- crm_cleanup (tier1)" in rubric and "Estimated size: about" in call.user_text


def test_router_confidence_below_threshold_moves_one_tier_up(client, auth, fake_anthropic):
    router_says(fake_anthropic, "tier1", "classification", 0.6)
    body = route(client, auth, text="Is this one a good lead?", mode="llm")
    assert body["tier"] == "tier2" and rules_of(body) == ["llm_router", "low_confidence"]


@pytest.mark.parametrize("reply", [Reply.ok("I think tier2 is fine"), Reply.ok('{"tier": "tier9", "confidence": 1}'),
                                   Reply.ok('{"tier": "tier1", "confidence": "high"}'), Reply.server_error()])
def test_a_malformed_or_failed_router_answer_falls_back_to_the_safe_middle(client, auth, fake_anthropic, reply):
    fake_anthropic.script(HAIKU, reply)
    body = route(client, auth, text="Something free-form", mode="llm")
    assert (body["tier"], body["decided_by"], body["task_type"], body["confidence"]) == ("tier2", "llm", "unknown", 0)
    assert rules_of(body) == ["router_fallback"] and "safe middle tier2" in body["reasons"][0]["detail"]


def test_the_policy_table_and_the_safety_rules_still_apply(client, auth, fake_anthropic):
    router_says(fake_anthropic, "tier1", "strategy", 0.95)
    body = route(client, auth, text="Where should we expand next year?", mode="llm")
    assert body["tier"] == "tier3" and rules_of(body) == ["llm_router", "task_type_floor"]
    router_says(fake_anthropic, "tier1", "classification", 0.95)
    body = route(client, auth, text="Label this refund request by urgency", mode="llm", external=True)
    assert body["tier"] == "tier2" and body["needs_review"] is True
    assert rules_of(body) == ["llm_router", "sensitive_content", "external"]
    assert body["reasons"][1]["detail"].endswith("tier1 -> tier2")


def test_a_given_task_type_stays_given_in_llm_mode(client, auth, fake_anthropic):
    router_says(fake_anthropic, "tier2", "summary", 0.9)
    body = route(client, auth, text="Label these", task_type="classification", mode="llm")
    assert (body["task_type"], body["task_type_source"], body["tier"]) == ("classification", "given", "tier2")


def test_hybrid_lets_the_rules_decide_what_they_can_place(client, auth, app, fake_anthropic):
    body = route(client, auth, text="Please summarize these meeting notes: budget agreed, launch in May", mode="hybrid")
    assert (body["decided_by"], body["task_type"], body["task_type_source"], body["tier"]) == (
        "rules", "summary", "rules", "tier2")
    assert rules_of(body)[0] == "hybrid" and "no router call" in body["reasons"][0]["detail"]
    assert fake_anthropic.requests == [] and router_ledger(app) == ([], [])


def test_hybrid_asks_the_llm_for_a_free_form_request(client, auth, app, fake_anthropic):
    router_says(fake_anthropic, "tier2", "copywriting", 0.85, "the text is published")
    body = route(client, auth, text="Our bakery opens a second shop in June. Can you help us announce it nicely?",
                 mode="hybrid")
    assert (body["decided_by"], body["task_type"], body["task_type_source"], body["tier"]) == (
        "llm", "copywriting", "llm", "tier2")
    assert rules_of(body)[:2] == ["hybrid", "llm_router"]
    assert "no task type keyword matched" in body["reasons"][0]["detail"]
    assert len(router_ledger(app)[1]) == 1


def test_hybrid_hands_conflicting_signals_to_the_learned_router_when_it_is_sure(client, auth, fake_anthropic):
    # The rules' keywords conflict (translate, summarize); the learned router is sure, so no router call.
    router_says(fake_anthropic, "tier1", "translation", 0.9)
    body = route(client, auth, text="Translate and summarize this", mode="hybrid")
    assert body["decided_by"] == "learned" and "conflicting or weak signals" in body["reasons"][0]["detail"]
    assert "learned router placed it" in body["reasons"][0]["detail"] and fake_anthropic.requests == []


def test_without_a_key_the_rules_decide_and_say_so(client, auth, tmp_path, redis_url, database_url, make_key):
    from app import create_app
    from app.config import load_settings
    from tests.conftest import TEST_QUEUE

    application = create_app(load_settings(TIERGATE_DATA_DIR=tmp_path / "dry", REDIS_URL=redis_url,
                                           DATABASE_URL=database_url, TIERGATE_QUEUE=TEST_QUEUE), migrate=False)
    try:
        body = application.test_client().post("/v1/route", json={"text": "Summarize this memo", "mode": "llm"},
                                              headers={"X-API-Key": make_key()}).get_json()
        assert body["decided_by"] == "rules" and rules_of(body)[0] == "dry_run" and body["task_type"] == "summary"
    finally:
        application.extensions["store"].dispose()
