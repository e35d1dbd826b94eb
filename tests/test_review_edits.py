"""Correcting a classification: a label picker with the request's labels on the page, and every edit
checked before approval (valid JSON, labels from the list, the caller's schema), on the page and the API.
Drafts come from the real SDK against the fake Messages API."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from app.config import load_settings
from app.store import Delivery, Review
from tests.conftest import TEST_QUEUE
from tests.review_seed import add_reviewer
from tests.test_review_pages import csrf, login

LABELS = ["B2B", "B2C", "Unsure"]


@pytest.fixture
def settings(tmp_path, redis_url, database_url, redis_conn, fake_anthropic):
    return load_settings(TIERGATE_DATA_DIR=tmp_path / "data", REDIS_URL=redis_url, DATABASE_URL=database_url,
                         TIERGATE_QUEUE=TEST_QUEUE, ANTHROPIC_API_KEY="test-key", ANTHROPIC_BASE_URL=fake_anthropic.url,
                         TIERGATE_PROVIDER_MAX_RETRIES=0, TIERGATE_CALLBACK_ALLOW_HOSTS="hooks.example.com")


@pytest.fixture
def held(client, make_key, fake_anthropic):
    """A high-risk classification held for review, its draft the JSON label the (fake) model gave."""
    keys = {"X-API-Key": make_key(["fallback", "review"])}
    answer = client.post("/v1/fallback", headers=keys, json={
        "task_type": "classification", "text": "Acme GmbH orders 500 units for its stores", "labels": LABELS,
        "risk": "high", "exec": "sync", "callback_url": "https://hooks.example.com/resume/1"})
    assert answer.status_code == 200 and answer.json["needs_review"], answer.json
    return answer.json["review_id"], keys


@pytest.mark.parametrize("text, problem", [
    ('{"label": "B2B", "confidence": 0.9', "not valid JSON"),
    ('{"label": "Enterprise"}', "label 'Enterprise' is not one of the request's labels: B2B, B2C, Unsure"),
])
def test_api_refuses_a_broken_edit_and_sends_nothing(app, client, held, text, problem):
    review_id, keys = held
    answer = client.post(f"/v1/reviews/{review_id}/decision", headers=keys, json={"action": "approve", "text": text})
    assert answer.status_code == 422
    assert answer.json["error"]["field"] == "text" and problem in answer.json["error"]["message"]
    with app.extensions["store"].session() as session:
        assert session.get(Review, review_id).status == "pending"
        assert session.scalars(select(Delivery).where(Delivery.event == "review.decided")).all() == []


def test_api_accepts_a_valid_edit_with_a_listed_label(app, client, held):
    review_id, keys = held
    answer = client.post(f"/v1/reviews/{review_id}/decision", headers=keys,
                         json={"action": "approve", "text": '{"label": "b2b", "confidence": 1}'})
    assert answer.status_code == 200 and answer.json["status"] == "approved"


def test_api_checks_the_callers_output_schema(client, make_key, fake_anthropic):
    keys = {"X-API-Key": make_key(["fallback", "review"])}
    schema = {"type": "object", "required": ["company", "country"],
              "properties": {"company": {"type": "string"}, "country": {"type": "string", "minLength": 2}}}
    held = client.post("/v1/fallback", headers=keys, json={"task_type": "crm_cleanup", "text": "acme gmbh, germany",
                                                           "output_schema": schema, "risk": "high", "exec": "sync"}).json
    assert held["needs_review"], held
    bad = client.post(f"/v1/reviews/{held['review_id']}/decision", headers=keys,
                      json={"action": "approve", "text": '{"company": "Acme GmbH"}'})
    assert bad.status_code == 422 and bad.json["error"]["field"] == "text"
    assert "output schema" in bad.json["error"]["message"] and "'country' is a required property" in bad.json["error"]["message"]


def test_page_offers_the_request_labels_and_the_pick_becomes_the_label(app, client, held):
    review_id, _keys = held
    add_reviewer(app.extensions["store"])
    login(client)
    html = client.get(f"/review/{review_id}").get_data(as_text=True)
    picker = html[html.index('data-testid="label-picker"'):html.index("</fieldset>", html.index('data-testid="label-picker"'))]
    assert [value for value in LABELS if f'value="{value}"' in picker] == LABELS
    with app.extensions["store"].session() as session:
        draft = session.get(Review, review_id).draft
    drafted = json.loads(draft)["label"]
    assert f'value="{drafted}" checked' in picker  # the draft's label is preselected
    other = next(label for label in LABELS if label != drafted)

    # Broken JSON in the text box: refused with the field named, nothing decided.
    token = csrf(client, f"/review/{review_id}")
    refused = client.post(f"/review/{review_id}/decision", data={"csrf_token": token, "action": "approve",
                                                                 "text": '{"label": "B2B"', "label": "B2B"})
    assert refused.status_code == 422 and "not valid JSON" in refused.get_data(as_text=True)

    # The picker alone: the draft's other fields are kept, the label is the one picked.
    approved = client.post(f"/review/{review_id}/decision", data={"csrf_token": token, "action": "approve",
                                                                  "text": draft, "label": other})
    assert approved.status_code == 302
    with app.extensions["store"].session() as session:
        review = session.get(Review, review_id)
        assert review.status == "approved"
        assert json.loads(review.final_text) == {**json.loads(draft), "label": other}
        (callback,) = session.scalars(select(Delivery).where(Delivery.event == "review.decided")).all()
        assert json.loads(callback.payload["output"])["label"] == other


def test_page_refuses_a_label_outside_the_list(app, client, held):
    review_id, _keys = held
    add_reviewer(app.extensions["store"])
    login(client)
    token = csrf(client, f"/review/{review_id}")
    page = client.post(f"/review/{review_id}/decision", data={"csrf_token": token, "action": "approve",
                                                              "label": "Enterprise"})
    assert page.status_code == 422 and "not one of the request&#39;s labels" in page.get_data(as_text=True)
