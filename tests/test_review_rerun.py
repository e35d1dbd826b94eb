"""Re-run on a higher tier: a new answer from the next tier comes back as a new pending item; the workflow
hears nothing until a person approves or rejects an answer."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.config import load_settings
from app.store import Delivery, Request, Review
from app.web.context import runtime_of
from tests.support.fake_anthropic import Reply
from tests.conftest import TEST_QUEUE
from tests.review_seed import CUSTOMER_MESSAGE, run_queued_jobs


@pytest.fixture
def settings(tmp_path, redis_url, database_url, redis_conn, fake_anthropic, request):
    """Dry run, unless the test is marked ``real_provider`` (then the real SDK against the fake API)."""
    provider = {}
    if request.node.get_closest_marker("real_provider"):
        provider = dict(ANTHROPIC_API_KEY="test-key", ANTHROPIC_BASE_URL=fake_anthropic.url,
                        TIERGATE_PROVIDER_MAX_RETRIES=0)
    return load_settings(TIERGATE_DATA_DIR=tmp_path / "data", REDIS_URL=redis_url, DATABASE_URL=database_url,
                         TIERGATE_QUEUE=TEST_QUEUE, TIERGATE_CALLBACK_ALLOW_HOSTS="hooks.example.com", **provider)


class QueuedDeliveries:
    """The signed callbacks put in the outbox since the last ``clear()``, as ``(url, payload)``.

    Read from the outbox table, so deliveries that already ran (and failed: the hook host has no DNS
    here) still count.
    """

    def __init__(self, store):
        self.store, self.seen = store, set()

    def _rows(self):
        with self.store.session() as session:
            return session.execute(select(Delivery.id, Delivery.url, Delivery.payload).order_by(Delivery.id)).all()

    def clear(self) -> None:
        self.seen = {row.id for row in self._rows()}

    def __call__(self) -> list[tuple[str, dict]]:
        return [(row.url, row.payload) for row in self._rows() if row.id not in self.seen]


@pytest.fixture
def sent(app):
    return QueuedDeliveries(app.extensions["store"])


@pytest.fixture
def jobs(app, monkeypatch):
    monkeypatch.setattr("workers.context._runtime", runtime_of(app))
    return lambda: run_queued_jobs(app)


def test_rerun_moves_up_a_tier_and_waits_for_a_person(client, app, make_key, sent, jobs):
    keys = {"X-API-Key": make_key(["fallback", "review"])}
    queued = client.post("/v1/fallback", headers=keys, json={
        "task_type": "support_reply", "text": CUSTOMER_MESSAGE, "external": True, "exec": "async",
        "callback_url": "https://hooks.example.com/resume/1"})
    assert queued.status_code == 202
    jobs()
    first = client.get("/v1/reviews", headers=keys).json["items"][0]
    assert first["tier"] == "tier2"
    sent.clear()  # the fallback's own job.finished callback

    decided = client.post(f"/v1/reviews/{first['review_id']}/decision", headers=keys, json={"action": "rerun"})
    assert decided.status_code == 200 and decided.json["status"] == "rerun"
    jobs()
    assert sent() == []  # a re-run does not resume the workflow

    [second] = client.get("/v1/reviews", headers=keys).json["items"]
    assert second["review_id"] != first["review_id"] and second["tier"] == "tier3" and second["has_callback"]
    assert second["metadata"]["rerun_of"] == first["review_id"]
    assert [attempt["tier"] for attempt in client.get(f"/v1/reviews/{second['review_id']}", headers=keys).json["attempts"]] == ["tier3"]
    with app.extensions["store"].session() as session:
        assert session.get(Review, first["review_id"]).request_metadata["rerun_review_id"] == second["review_id"]
        assert session.scalars(select(Request).where(Request.exec_mode == "rerun")).one().tier == "tier3"

    client.post(f"/v1/reviews/{second['review_id']}/decision", headers=keys, json={"action": "approve"})
    [(url, payload)] = sent()
    assert url == "https://hooks.example.com/resume/1"
    assert payload["event"] == "review.decided" and payload["review_id"] == second["review_id"]


@pytest.mark.real_provider
def test_a_rerun_that_meets_a_provider_outage_puts_the_item_back_in_the_queue(client, app, make_key, jobs,
                                                                             fake_anthropic):
    keys = {"X-API-Key": make_key(["fallback", "review"])}
    client.post("/v1/fallback", headers=keys, json={"task_type": "support_reply", "text": CUSTOMER_MESSAGE,
                                                     "exec": "async"})
    jobs()
    [item] = client.get("/v1/reviews", headers=keys).json["items"]

    fake_anthropic.script("claude-opus-4-7", Reply.overloaded())  # the next tier's provider is down
    client.post(f"/v1/reviews/{item['review_id']}/decision", headers=keys, json={"action": "rerun"})
    jobs()
    [again] = client.get("/v1/reviews", headers=keys).json["items"]
    assert again["review_id"] == item["review_id"] and again["status"] == "pending"
    assert "HTTP 529" in again["metadata"]["rerun_error"]
    assert len(fake_anthropic.requests_for("claude-opus-4-7")) == 1


def test_audit_items_cannot_be_rerun(client, app, make_key):
    with app.extensions["store"].session() as session:
        session.add(Review(id="rev_audit1", kind="audit", task_type="translation", tier="tier1", draft="Hallo",
                           audit_month="2026-03", audit_class="translation"))
    answer = client.post("/v1/reviews/rev_audit1/decision", headers={"X-API-Key": make_key(["review"])},
                         json={"action": "rerun"})
    assert answer.status_code == 422 and answer.json["error"]["field"] == "action"
