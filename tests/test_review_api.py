"""The review queue over the API: list, read and decide with the ``review`` scope; one decision per item."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from app.config import load_settings
from app.errors import Conflict
from app.reviews.service import DecisionInput, decide
from app.store import Review, utcnow
from tests.conftest import TEST_QUEUE
from tests.review_seed import DRAFT_REPLY, add_flagged_draft


@pytest.fixture
def settings(tmp_path, redis_url, database_url, redis_conn):
    """The workflow's callback host is allowed (it has no DNS here, so the SSRF check would refuse it)."""
    return load_settings(TIERGATE_DATA_DIR=tmp_path / "data", REDIS_URL=redis_url, DATABASE_URL=database_url,
                         TIERGATE_QUEUE=TEST_QUEUE, TIERGATE_CALLBACK_ALLOW_HOSTS="hooks.example.com")


@pytest.fixture
def store(app):
    return app.extensions["store"]


@pytest.fixture
def review_auth(make_key):
    return {"Authorization": f"Bearer {make_key(['review'], name='helpdesk')}"}


@pytest.fixture
def sent_callbacks(app):
    """The signed callbacks put in the outbox so far, as ``(url, payload)`` (their hosts do not resolve
    here, so they stay pending)."""
    from sqlalchemy import select

    from app.store import Delivery

    def queued() -> list[tuple[str, dict]]:
        with app.extensions["store"].session() as session:
            return [(row.url, row.payload) for row in session.execute(
                select(Delivery.url, Delivery.payload).order_by(Delivery.id))]
    return queued


def test_pending_list_has_the_contract_fields(client, store, review_auth):
    review_id = add_flagged_draft(store)
    answer = client.get("/v1/reviews?status=pending", headers=review_auth)
    assert answer.status_code == 200
    [item] = answer.json["items"]
    assert item["review_id"] == review_id
    assert item["task_type"] == "support_reply"
    assert item["reasons"] == ["external", "task_type_review"]
    assert item["draft"] == DRAFT_REPLY
    assert item["created_at"] and item["status"] == "pending" and item["has_callback"] is False
    assert answer.json["counts"]["status"]["pending"] == 1
    assert answer.json["counts"]["reason"] == {"external": 1, "task_type_review": 1}


def test_review_scope_is_required(client, store, make_key):
    review_id = add_flagged_draft(store)
    other = {"X-API-Key": make_key(["route", "fallback"])}
    assert client.get("/v1/reviews", headers=other).status_code == 403
    assert client.get(f"/v1/reviews/{review_id}", headers=other).status_code == 403
    refused = client.post(f"/v1/reviews/{review_id}/decision", json={"action": "approve"}, headers=other)
    assert refused.status_code == 403 and refused.json["error"]["field"] == "Authorization"
    assert client.get("/v1/reviews").status_code == 401
    assert client.get("/v1/reviews", headers={"X-API-Key": make_key(["admin"])}).status_code == 200


def test_item_shows_input_draft_and_every_attempt(client, store, review_auth):
    review_id = add_flagged_draft(store)
    item = client.get(f"/v1/reviews/{review_id}", headers=review_auth).json
    assert item["input"].startswith("Hi, my order #1042")
    assert [(a["tier"], a["model"], a["ok"]) for a in item["attempts"]] == [
        ("tier1", "claude-haiku-4-5", False), ("tier2", "claude-sonnet-4-6", True)]
    assert item["attempts"][0]["cost_usd"] == pytest.approx(0.00015)
    assert item["cost_usd"] == pytest.approx(0.00129)
    assert client.get("/v1/reviews/rev_missing", headers=review_auth).status_code == 404


def test_edit_then_approve_records_who_when_text_and_time(client, store, review_auth):
    review_id = add_flagged_draft(store)
    answer = client.post(f"/v1/reviews/{review_id}/decision", headers=review_auth,
                         json={"action": "approve", "text": "Hi Dana, a new one ships today.", "note": "shorter",
                               "minutes_spent": 2.5, "reviewer": "sam"})
    assert answer.status_code == 200
    item = answer.json
    assert (item["status"], item["action"], item["output"]) == ("approved", "approve", "Hi Dana, a new one ships today.")
    assert item["decided_by"] == "sam (key helpdesk)" and item["decided_at"]
    assert item["minutes_spent"] == 2.5 and item["note"] == "shorter"
    assert client.get("/v1/reviews?status=pending", headers=review_auth).json["items"] == []


def test_approve_without_text_sends_the_draft(client, store, review_auth):
    review_id = add_flagged_draft(store)
    item = client.post(f"/v1/reviews/{review_id}/decision", headers=review_auth, json={"action": "approve"}).json
    assert item["output"] == DRAFT_REPLY


def test_second_decision_is_a_conflict(client, store, review_auth):
    review_id = add_flagged_draft(store)
    assert client.post(f"/v1/reviews/{review_id}/decision", headers=review_auth,
                       json={"action": "reject", "note": "wrong order number"}).status_code == 200
    second = client.post(f"/v1/reviews/{review_id}/decision", headers=review_auth, json={"action": "approve"})
    assert second.status_code == 409
    assert second.json["error"]["code"] == "already_decided"
    assert "already decided (reject by key helpdesk" in second.json["error"]["message"]
    with store.session() as session:
        assert session.get(Review, review_id).status == "rejected"


def test_form_encoded_decision_like_zapier(client, store, review_auth):
    review_id = add_flagged_draft(store)
    answer = client.post(f"/v1/reviews/{review_id}/decision", headers=review_auth,
                         data={"action": "Reject", "note": "tone", "minutes_spent": "1"})
    assert answer.status_code == 200 and answer.json["status"] == "rejected" and answer.json["output"] is None


@pytest.mark.parametrize("body, field", [
    ({"action": "ship"}, "action"),
    ({}, "action"),
    ({"action": "approve", "minutes_spent": -1}, "minutes_spent"),
    ({"action": "approve", "minutes_spent": "soon"}, "minutes_spent"),
])
def test_invalid_decisions(client, store, review_auth, body, field):
    review_id = add_flagged_draft(store)
    answer = client.post(f"/v1/reviews/{review_id}/decision", headers=review_auth, json=body)
    assert answer.status_code == 422 and answer.json["error"]["field"] == field


def test_filters(client, store, review_auth):
    old = add_flagged_draft(store, created_at=utcnow() - timedelta(hours=3))
    new = add_flagged_draft(store, task_type="classification", reasons=[{"rule": "low_confidence", "detail": "0.6"}])
    ids = lambda query: [i["review_id"] for i in client.get(f"/v1/reviews?{query}", headers=review_auth).json["items"]]
    assert ids("") == [old, new]  # oldest first
    assert ids("task_type=classification") == [new]
    assert ids("reason=low_confidence") == [new]
    assert ids("reason=external") == [old]
    assert ids("older_than_minutes=60") == [old]
    assert ids("newer_than_minutes=60") == [new]
    assert ids("status=approved") == []
    assert ids("status=all&limit=1") == [old]
    bad = client.get("/v1/reviews?status=lost", headers=review_auth)
    assert bad.status_code == 422 and bad.json["error"]["field"] == "status"


def test_decision_enqueues_one_signed_callback(client, store, review_auth, sent_callbacks):
    review_id = add_flagged_draft(store, callback_url="https://hooks.example.com/resume/abc",
                                  metadata={"workflow": "support"})
    client.post(f"/v1/reviews/{review_id}/decision", headers=review_auth, json={"action": "approve", "text": "Edited."})
    client.post(f"/v1/reviews/{review_id}/decision", headers=review_auth, json={"action": "approve", "text": "Twice?"})
    [(url, payload)] = sent_callbacks()
    assert url == "https://hooks.example.com/resume/abc"
    assert payload["event"] == "review.decided" and payload["review_id"] == review_id
    assert payload["action"] == "approve" and payload["output"] == "Edited."
    assert payload["job_id"] and payload["metadata"] == {"workflow": "support"}


def test_reject_callback_carries_the_note(client, store, review_auth, sent_callbacks):
    review_id = add_flagged_draft(store, callback_url="https://hooks.example.com/resume/abc")
    client.post(f"/v1/reviews/{review_id}/decision", headers=review_auth, json={"action": "reject", "note": "refund promised"})
    [(_url, payload)] = sent_callbacks()
    assert (payload["action"], payload["output"], payload["note"]) == ("reject", None, "refund promised")


def test_two_reviewers_at_once_only_one_wins(app, store, sent_callbacks):
    review_id = add_flagged_draft(store, callback_url="https://hooks.example.com/resume/abc")
    barrier, outcomes = threading.Barrier(2), []

    def reviewer(name: str) -> None:
        session = store.sessions()
        try:
            with app.app_context():
                barrier.wait()
                decide(session, review_id, DecisionInput(action="approve", text=f"by {name}"), name)
            outcomes.append(("won", name))
        except Conflict:
            outcomes.append(("conflict", name))
        finally:
            session.close()

    threads = [threading.Thread(target=reviewer, args=(name,)) for name in ("ann", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(kind for kind, _ in outcomes) == ["conflict", "won"]
    winner = next(name for kind, name in outcomes if kind == "won")
    assert [payload["output"] for _url, payload in sent_callbacks()] == [f"by {winner}"]
    with store.session() as session:
        assert session.get(Review, review_id).decided_by == winner


def test_a_refused_callback_target_does_not_block_the_decision(client, store, review_auth):
    review_id = add_flagged_draft(store, callback_url="http://10.1.2.3/resume")  # private, not allowed
    answer = client.post(f"/v1/reviews/{review_id}/decision", headers=review_auth, json={"action": "approve"})
    assert answer.status_code == 200 and answer.json["status"] == "approved"
    assert "non-public address" in answer.json["callback_error"]
