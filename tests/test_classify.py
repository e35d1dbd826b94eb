"""POST /v1/classify through the real SDK and the fake Messages API: chunks, gates, escalation, review."""
from __future__ import annotations

import json
import pytest
from sqlalchemy import select

from app import create_app
from app.config import load_settings
from app.store import Attempt, Review
from tests.conftest import TEST_QUEUE
from tests.support.fake_anthropic import Reply

HAIKU, SONNET = "claude-haiku-4-5", "claude-sonnet-4-6"
LABELS = ["B2B", "B2C", "Unsure"]
# Haiku 4.5 caches a prefix only from 4,096 tokens: long instructions (a glossary) bring a list's prefix over.
GLOSSARY = "".join(f"Term {n}: a word the sales team uses for a kind of customer account. " for n in range(250))


def app_with_fake(tmp_path, redis_url, database_url, fake_anthropic, **overrides):
    """The app with a provider key, its SDK pointed at the fake server (no SDK retries: tests script them)."""
    settings = load_settings(TIERGATE_DATA_DIR=tmp_path / "data", REDIS_URL=redis_url, DATABASE_URL=database_url,
                             TIERGATE_QUEUE=TEST_QUEUE, ANTHROPIC_API_KEY="test-key",
                             ANTHROPIC_BASE_URL=fake_anthropic.url, TIERGATE_PROVIDER_MAX_RETRIES=0, **overrides)
    application = create_app(settings, migrate=False)
    application.config["TESTING"] = True
    return application


@pytest.fixture
def app(tmp_path, redis_url, database_url, redis_conn, fake_anthropic):
    """Small chunks (5) and a small sync limit (20), so short lists show the chunking."""
    application = app_with_fake(tmp_path, redis_url, database_url, fake_anthropic, TIERGATE_CLASSIFY_CHUNK_SIZE=5,
                                TIERGATE_CLASSIFY_SYNC_MAX_ITEMS=20)
    yield application
    application.extensions["store"].dispose()


def verdicts(*rows) -> str:
    return json.dumps([{"id": i, "label": label, "confidence": conf, "reason": "scripted"}
                       for i, (label, conf) in enumerate(rows)])


def attempts(app, request_id):
    with app.extensions["store"].session() as session:
        return session.scalars(select(Attempt).where(Attempt.request_id == request_id).order_by(Attempt.seq)).all()


def test_short_list_answers_in_order_with_ids_kept(client, auth, app, fake_anthropic):
    items = [{"row": f"r{i}", "name": text} for i, text in enumerate(
        ["Acme GmbH, B2B buyer of 40 seats", "private B2C gift for my son", "B2B reseller in Lyon"])]
    response = client.post("/v1/classify", json={"items": items, "text_field": "name", "id_field": "row",
                                                 "labels": LABELS, "metadata": {"sheet": "March"}}, headers=auth)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert [r["id"] for r in body["results"]] == ["r0", "r1", "r2"]
    assert [r["label"] for r in body["results"]] == ["B2B", "B2C", "B2B"]
    assert all(set(r) >= {"id", "label", "confidence", "reason", "model", "needs_review"} for r in body["results"])
    assert body["counts"] == {"B2B": 2, "B2C": 1, "Unsure": 0}
    assert body["status"] == "done" and "review_id" not in body and body["metadata"] == {"sheet": "March"}
    assert body["cost_usd"] > 0 and body["baseline_cost_usd"] > body["cost_usd"]
    (request,) = fake_anthropic.requests_for(HAIKU)
    assert 'Allowed labels: ["B2B", "B2C", "Unsure"]' in request.prefix_system
    assert json.loads(request.user_text)[1] == {"id": 1, "text": "private B2C gift for my son"}


def test_label_outside_the_set_is_retried_then_escalated(client, auth, app, fake_anthropic):
    fake_anthropic.script(HAIKU, verdicts(("B2B", 0.9), ("Enterprise", 0.9)), verdicts(("Enterprise", 0.9)))
    fake_anthropic.script(SONNET, verdicts(("B2B", 0.95)))
    body = client.post("/v1/classify", json={"items": ["Acme buys seats", "Big corp"], "labels": LABELS},
                       headers=auth).get_json()
    assert [(r["label"], r["model"], r["needs_review"]) for r in body["results"]] == [
        ("B2B", HAIKU, False), ("B2B", SONNET, False)]
    rows = attempts(app, body["request_id"])
    assert [(a.tier, a.purpose, a.ok, a.gate) for a in rows] == [
        ("tier1", "answer", False, "label_in_set"), ("tier1", "retry", False, "label_in_set"),
        ("tier2", "escalation", True, None)]
    # The retry and the escalation ask for the failing item only, with the problem as a hint.
    retry, escalation = fake_anthropic.requests_for(HAIKU)[1], fake_anthropic.requests_for(SONNET)[0]
    assert json.loads(retry.user_text) == [{"id": 0, "text": "Big corp"}]
    assert "Enterprise" in retry.uncached_system[-1] and json.loads(escalation.user_text) == [{"id": 0, "text": "Big corp"}]
    # Only the answer attempt carries a baseline; the retry and escalation are overhead.
    assert [a.baseline_cost_usd > 0 for a in rows] == [True, False, False]


def test_below_threshold_escalates_once_then_unknown_and_review(client, auth, app, fake_anthropic):
    fake_anthropic.script(HAIKU, verdicts(("B2B", 0.95), ("B2C", 0.5), ("B2C", 0.6)))
    fake_anthropic.script(SONNET, verdicts(("B2C", 0.9), ("Unsure", 0.55)))
    body = client.post("/v1/classify", json={"items": ["a", "b", "c"], "labels": LABELS}, headers=auth).get_json()
    first, second, third = body["results"]
    assert (first["label"], first["model"], first["needs_review"]) == ("B2B", HAIKU, False)
    assert (second["label"], second["model"], second["needs_review"]) == ("B2C", SONNET, False)
    assert (third["label"], third["needs_review"], third["suggested_label"]) == ("unknown", True, "Unsure")
    assert body["status"] == "needs_review" and third["review_id"] == body["review_id"]
    assert body["counts"] == {"B2B": 1, "B2C": 1, "Unsure": 0, "unknown": 1}
    assert len(fake_anthropic.requests_for(SONNET)) == 1  # escalated once, together
    with app.extensions["store"].session() as session:
        review = session.get(Review, body["review_id"])
        assert review.status == "pending" and review.request_id == body["request_id"]
        assert '"id": 2' in review.draft and "low confidence" in review.reasons[0]
        assert review.input_text == "c" and review.request_metadata["row_id"] == 2


def test_every_flagged_row_gets_its_own_review(client, auth, app, fake_anthropic):
    fake_anthropic.script(HAIKU, verdicts(("B2C", 0.5), ("B2B", 0.95), ("B2C", 0.4)))
    fake_anthropic.script(SONNET, verdicts(("Unsure", 0.5), ("Unsure", 0.55)))
    body = client.post("/v1/classify", json={"items": ["x", "Acme GmbH", "y"], "labels": LABELS,
                                             "metadata": {"workflow": "leads"}}, headers=auth).get_json()
    first, second, third = body["results"]
    assert first["needs_review"] and third["needs_review"] and not second["needs_review"]
    assert first["review_id"] != third["review_id"] and "review_id" not in second
    with app.extensions["store"].session() as session:
        reviews = [session.get(Review, r["review_id"]) for r in (first, third)]
        assert [(r.input_text, r.request_metadata) for r in reviews] == [
            ("x", {"workflow": "leads", "row_id": 0}), ("y", {"workflow": "leads", "row_id": 2})]
        assert all(r.status == "pending" and r.request_id == body["request_id"] for r in reviews)


def test_without_unknown_an_unsure_item_keeps_its_best_label_and_is_flagged(client, auth, fake_anthropic):
    fake_anthropic.script(HAIKU, verdicts(("B2C", 0.5)))
    fake_anthropic.script(SONNET, verdicts(("B2B", 0.6)))
    body = client.post("/v1/classify", json={"items": ["hmm"], "labels": LABELS, "allow_unknown": False},
                       headers=auth).get_json()
    (result,) = body["results"]
    assert (result["label"], result["model"], result["needs_review"]) == ("B2B", SONNET, True)
    assert "unknown" not in fake_anthropic.requests_for(HAIKU)[0].prefix_system.split("Allowed labels")[1][:40]


def test_a_chunk_that_fails_everywhere_still_answers_every_item(client, auth, app, fake_anthropic):
    fake_anthropic.script(HAIKU, Reply.server_error(), Reply.server_error())
    fake_anthropic.script(SONNET, Reply.overloaded())
    items = [f"lead {i} B2B" for i in range(7)]  # chunk size 5: the first chunk fails, the second works
    body = client.post("/v1/classify", json={"items": items, "labels": LABELS}, headers=auth).get_json()
    assert len(body["results"]) == 7 and [r["id"] for r in body["results"]] == list(range(7))
    failed, answered = body["results"][:5], body["results"][5:]
    assert all(r["label"] is None and r["needs_review"] and r["error"]["gate"] == "provider" for r in failed)
    assert all(r["label"] == "B2B" and not r["needs_review"] for r in answered)
    assert body["counts"]["error"] == 5 and body["status"] == "needs_review" and body["review_id"]


def test_prompt_prefix_is_cached_across_chunks(client, auth, app, fake_anthropic):
    items = [f"company {i} B2B" for i in range(12)]  # three chunks of at most 5
    instructions = "B2B: the buyer is a company. " + GLOSSARY
    body = client.post("/v1/classify", json={"items": items, "labels": LABELS,
                                             "instructions": instructions}, headers=auth).get_json()
    assert [r["label"] for r in body["results"]] == ["B2B"] * 12
    rows = attempts(app, body["request_id"])
    assert len(rows) == 3
    assert rows[0].cache_write_tokens > 0 and rows[0].cache_read_tokens == 0
    assert all(a.cache_read_tokens == rows[0].cache_write_tokens and a.cache_write_tokens == 0 for a in rows[1:])
    prefixes = {tuple(r.cached_system) for r in fake_anthropic.requests}
    assert len(prefixes) == 1 and "B2B: the buyer is a company." in next(iter(prefixes))[0]


def test_form_encoded_list_like_zapier(client, auth, fake_anthropic):
    response = client.post("/v1/classify", data={"items": ["Acme GmbH is B2B", "gift, B2C"], "labels": "B2B,B2C,Unsure",
                                                  "confidence_threshold": "0.8", "allow_unknown": "true"},
                           headers={**auth, "User-Agent": "Zapier"})
    assert response.status_code == 200, response.get_json()
    assert [r["label"] for r in response.get_json()["results"]] == ["B2B", "B2C"]


@pytest.mark.parametrize("body, field", [
    ({"labels": LABELS}, "items"),
    ({"items": [], "labels": LABELS}, "items"),
    ({"items": ["a"]}, "labels"),
    ({"items": ["a"], "labels": ["B2B", "b2b"]}, "labels"),
    ({"items": [{"x": 1}], "text_field": "name", "labels": LABELS}, "items"),
    ({"items": ["a"], "labels": LABELS, "confidence_threshold": 2}, "confidence_threshold"),
    ({"items": ["a"], "labels": LABELS, "exec": "later"}, "exec"),
    ({"items": ["a"], "labels": LABELS, "callback_url": "ftp://x"}, "callback_url"),
    ({"items": ["a"], "labels": LABELS, "task_type": "no_such_type"}, "task_type"),
])
def test_invalid_requests_name_the_field(client, auth, body, field):
    response = client.post("/v1/classify", json=body, headers=auth)
    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == field


def test_classify_needs_the_classify_scope(client, make_key):
    response = client.post("/v1/classify", json={"items": ["a"], "labels": LABELS},
                           headers={"X-API-Key": make_key(["route"])})
    assert response.status_code == 403


def test_dry_run_without_a_key_answers_every_item_and_says_so(tmp_path, redis_url, database_url, redis_conn, make_key):
    settings = load_settings(TIERGATE_DATA_DIR=tmp_path / "dry", REDIS_URL=redis_url, DATABASE_URL=database_url,
                             TIERGATE_QUEUE=TEST_QUEUE)
    application = create_app(settings, migrate=False)
    try:
        body = application.test_client().post("/v1/classify", json={"items": ["a", "b"], "labels": LABELS},
                                              headers={"X-API-Key": make_key()}).get_json()
        assert body["dry_run"] is True and len(body["results"]) == 2
        assert all(r["reason"].startswith("DRY RUN") and not r["needs_review"] for r in body["results"])
    finally:
        application.extensions["store"].dispose()
