"""Re-run on a higher tier: a new answer from the next tier comes back as a new pending item; the workflow
hears nothing until a person approves or rejects an answer."""
from __future__ import annotations

import pytest
from rq.job import Job
from sqlalchemy import select

from app.callbacks import DELIVER_JOB
from app.config import load_settings
from app.store import Request, Review
from tests.conftest import TEST_QUEUE
from tests.review_seed import CUSTOMER_MESSAGE, run_queued_jobs


@pytest.fixture
def settings(tmp_path, redis_url, database_url, redis_conn):
    return load_settings(TIERGATE_DATA_DIR=tmp_path / "data", REDIS_URL=redis_url, DATABASE_URL=database_url,
                         TIERGATE_QUEUE=TEST_QUEUE, TIERGATE_CALLBACK_ALLOW_HOSTS="hooks.example.com")


class QueuedDeliveries:
    """The signed callback deliveries enqueued since the last ``clear()``, as ``(url, payload)``.

    Read from the real RQ job records, so deliveries that already ran (and failed: the hook host has
    no DNS here) still count.
    """

    def __init__(self, redis):
        self.redis, self.seen = redis, set()

    def _jobs(self):
        ids = [key.decode().split(":", 2)[2] for key in self.redis.scan_iter("rq:job:*")
               if key.decode().count(":") == 2]
        jobs = [job for job in Job.fetch_many(ids, connection=self.redis) if job and job.func_name == DELIVER_JOB]
        return sorted(jobs, key=lambda job: job.enqueued_at or job.created_at)

    def clear(self) -> None:
        self.seen = {job.id for job in self._jobs()}

    def __call__(self) -> list[tuple[str, dict]]:
        return [(job.args[0], job.args[1]) for job in self._jobs() if job.id not in self.seen]


@pytest.fixture
def sent(app):
    return QueuedDeliveries(app.extensions["job_queue"].redis)


@pytest.fixture
def jobs(app, monkeypatch):
    monkeypatch.setattr("workers.context._app", app)
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


def test_a_failed_rerun_puts_the_item_back_in_the_queue(client, app, make_key, sent, jobs, monkeypatch):
    keys = {"X-API-Key": make_key(["fallback", "review"])}
    client.post("/v1/fallback", headers=keys, json={"task_type": "support_reply", "text": CUSTOMER_MESSAGE,
                                                     "exec": "async"})
    jobs()
    [item] = client.get("/v1/reviews", headers=keys).json["items"]

    def broken(*_args, **_kwargs):
        raise RuntimeError("provider outage")

    monkeypatch.setattr("app.fallback.service.rerun_at_tier", broken)
    client.post(f"/v1/reviews/{item['review_id']}/decision", headers=keys, json={"action": "rerun"})
    jobs()
    [again] = client.get("/v1/reviews", headers=keys).json["items"]
    assert again["review_id"] == item["review_id"] and again["status"] == "pending"
    assert "provider outage" in again["metadata"]["rerun_error"]


def test_audit_items_cannot_be_rerun(client, app, make_key):
    with app.extensions["store"].session() as session:
        session.add(Review(id="rev_audit1", kind="audit", task_type="translation", tier="tier1", draft="Hallo",
                           audit_month="2026-03", audit_class="translation"))
    answer = client.post("/v1/reviews/rev_audit1/decision", headers={"X-API-Key": make_key(["review"])},
                         json={"action": "rerun"})
    assert answer.status_code == 422 and answer.json["error"]["field"] == "action"
