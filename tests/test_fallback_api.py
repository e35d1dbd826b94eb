"""POST /v1/fallback and GET /v1/jobs end to end: web app, a real RQ worker process, the fake Messages API,
a callback receiver, and the ledger in SQL."""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from decimal import Decimal

import pytest
from sqlalchemy import select

from app import create_app
from app.config import load_settings
from app.store import Attempt, Request, Review
from tests.conftest import TEST_QUEUE
from tests.support.fake_anthropic import Reply
from tests.support.receiver import CallbackReceiver
from tests.support.worker import WorkerProcess

HAIKU, SONNET = "claude-haiku-4-5", "claude-sonnet-4-6"
CALLBACK_SECRET = "test-callback-secret"
CRM_RECORD = {"company": "Acme GmbH", "first_name": "Jane", "last_name": "Doe", "email": "jane@acme.de",
              "email_valid": True, "phone": "+49301234567", "country": "DE"}


def fallback_settings(tmp_path, redis_url, database_url, fake, **overrides):
    values = dict(TIERGATE_DATA_DIR=tmp_path / "data", REDIS_URL=redis_url, DATABASE_URL=database_url,
                  TIERGATE_QUEUE=TEST_QUEUE, ANTHROPIC_API_KEY="test-key", ANTHROPIC_BASE_URL=fake.url,
                  TIERGATE_PROVIDER_MAX_RETRIES=0, TIERGATE_PROVIDER_TIMEOUT_SECONDS=5,
                  TIERGATE_CALLBACK_ALLOW_HOSTS="127.0.0.1", TIERGATE_CALLBACK_SECRET=CALLBACK_SECRET,
                  TIERGATE_SYNC_WAIT_SECONDS=15)
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
def app(tmp_path, redis_url, database_url, redis_conn, fake_anthropic, request):
    overrides = getattr(request, "param", {})
    application = create_app(fallback_settings(tmp_path, redis_url, database_url, fake_anthropic, **overrides),
                             migrate=False)
    application.config["TESTING"] = True
    yield application
    application.extensions["store"].dispose()


@pytest.fixture
def worker(app, redis_conn):
    process = WorkerProcess(app.config["TIERGATE"], redis_conn).start()
    yield process
    process.stop()


@pytest.fixture
def receiver():
    server = CallbackReceiver()
    yield server
    server.close()


def rows(app, model, **where):
    with app.extensions["store"].session() as session:
        return list(session.scalars(select(model).filter_by(**where)))


def verify(delivery, secret=CALLBACK_SECRET, max_age_seconds=300) -> dict:
    """A receiver written from docs/architecture.md, "API contract" alone."""
    timestamp = delivery.headers["x-tiergate-timestamp"]
    expected = "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + delivery.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, delivery.headers["x-tiergate-signature"])
    assert abs(time.time() - int(timestamp)) < max_age_seconds
    return json.loads(delivery.body)


def test_list_cleanup_is_retried_escalated_with_the_hint_and_succeeds(client, auth, app, worker, fake_anthropic):
    fake_anthropic.script(HAIKU, Reply.ok("{broken", 1000, 100), Reply.ok("{still broken", 1000, 100))
    fake_anthropic.script(SONNET, Reply.ok(json.dumps(CRM_RECORD), 1200, 150))
    response = client.post("/v1/fallback", headers=auth, json={
        "task_type": "crm_cleanup", "text": "jane DOE, acme gmbh., jane@acme.de, +49 30 1234567, Germany"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["status"], body["tier"], body["model"], body["escalated"]) == ("done", "tier2", SONNET, True)
    assert body["output"] == CRM_RECORD and body["needs_review"] is False and body["dry_run"] is False
    assert [(a["tier"], a["ok"], a["gate"]) for a in body["attempts"]] == [
        ("tier1", False, "json"), ("tier1", False, "json"), ("tier2", True, None)]
    assert [a["cost_usd"] for a in body["attempts"]] == [0.0015, 0.0015, 0.00585]
    assert (body["cost_usd"], body["baseline_cost_usd"], body["saving_usd"]) == (0.00885, 0.00585, -0.003)
    assert "Problem: the answer is not valid JSON" in fake_anthropic.requests_for(SONNET)[0].uncached_system[-1]
    (row,) = rows(app, Request, id=body["request_id"])
    assert (row.status, row.cost_usd, row.baseline_cost_usd, row.escalated) == ("done", Decimal("0.00885"),
                                                                               Decimal("0.00585"), True)
    attempts = sorted(rows(app, Attempt, request_id=row.id), key=lambda a: a.seq)
    assert [(a.purpose, a.model, a.cost_usd) for a in attempts] == [
        ("retry", HAIKU, Decimal("0.0015")), ("retry", HAIKU, Decimal("0.0015")), ("answer", SONNET, Decimal("0.00585"))]
    assert sum(a.baseline_cost_usd for a in attempts) == Decimal("0.00585")


def test_a_customer_reply_ends_as_a_draft_in_review(client, auth, app, worker):
    response = client.post("/v1/fallback", headers=auth, json={
        "task_type": "support_reply", "text": "My parcel never arrived. Where is it?", "external": True,
        "metadata": {"ticket": "T-7"}})
    body = response.get_json()
    assert response.status_code == 200 and body["status"] == "needs_review" and body["needs_review"] is True
    assert {"external", "task_type_review"} <= set(body["review_reasons"])
    assert body["review_url"] == f"/review/{body['review_id']}" and body["metadata"] == {"ticket": "T-7"}
    (review,) = rows(app, Review, id=body["review_id"])
    assert (review.kind, review.status, review.request_id) == ("draft", "pending", body["request_id"])
    assert review.draft == body["output"] and review.input_text == "My parcel never arrived. Where is it?"


def test_async_request_answers_202_and_calls_back_with_a_valid_signature(client, auth, app, worker, receiver):
    response = client.post("/v1/fallback", headers=auth, json={
        "task_type": "summary", "text": "Notes: ship on Friday.", "exec": "async",
        "callback_url": receiver.url + "/webhook-waiting/abc?token=xyz&x=1"})
    assert response.status_code == 202
    queued = response.get_json()
    assert queued["status"] == "queued" and queued["status_url"].endswith(f"/v1/jobs/{queued['job_id']}")
    (delivery,) = receiver.wait(1)
    assert delivery.path == "/webhook-waiting/abc?token=xyz&x=1"  # the URL is opaque, query string kept
    payload = verify(delivery)
    assert (payload["event"], payload["job_id"], payload["status"]) == ("job.finished", queued["job_id"], "done")
    assert payload["output"] == "Fake answer: Notes: ship on Friday."
    job = client.get(f"/v1/jobs/{queued['job_id']}", headers=auth).get_json()
    assert (job["status"], job["progress"], job["result"]["output"]) == ("done", {"done": 1, "total": 1},
                                                                          payload["output"])


@pytest.mark.parametrize("app", [{"TIERGATE_SYNC_WAIT_SECONDS": 0.5}], indirect=True)
def test_sync_past_the_bound_answers_202_then_calls_back_exactly_once(client, auth, app, worker, receiver,
                                                                      fake_anthropic):
    fake_anthropic.script(SONNET, Reply.hang(1.5, text="slow but fine"))
    started = time.monotonic()
    response = client.post("/v1/fallback", headers=auth, json={
        "task_type": "summary", "text": "long notes", "callback_url": receiver.url + "/hook"})
    assert response.status_code == 202 and time.monotonic() - started < 1.5
    payload = verify(receiver.wait(1)[0])
    assert payload["output"] == "slow but fine"
    time.sleep(0.5)
    assert len(receiver.deliveries) == 1


def test_idempotency_key_returns_the_first_answer_without_a_second_model_call(client, auth, worker, fake_anthropic):
    headers = {**auth, "Idempotency-Key": "row-42"}
    first = client.post("/v1/fallback", headers=headers, json={"task_type": "summary", "text": "notes"})
    again = client.post("/v1/fallback", headers=headers, json={"text": "notes", "task_type": "summary"})
    assert first.status_code == again.status_code == 200
    assert again.get_json() == first.get_json() and again.headers["Idempotent-Replayed"] == "true"
    assert len(fake_anthropic.requests) == 1
    conflict = client.post("/v1/fallback", headers=headers, json={"task_type": "summary", "text": "other notes"})
    assert conflict.status_code == 409
    assert conflict.get_json()["error"]["code"] == "idempotency_conflict"


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/hook", "http://localhost/hook", "http://10.1.2.3/hook",
                                 "http://169.254.169.254/latest/meta-data", "http://[::1]/hook", "ftp://example.com/x",
                                 "http://[64:ff9b::7f00:1]/hook", "http://[2002:a9fe:a9fe::1]/latest/meta-data"])
@pytest.mark.parametrize("app", [{"TIERGATE_CALLBACK_ALLOW_HOSTS": ""}], indirect=True)
def test_callbacks_to_private_targets_are_refused_before_anything_runs(client, auth, app, url, fake_anthropic):
    response = client.post("/v1/fallback", headers=auth, json={"text": "x", "exec": "async", "callback_url": url})
    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "callback_url"
    assert rows(app, Request) == [] and fake_anthropic.requests == []


def test_form_encoded_request_like_zapier(client, auth, worker):
    response = client.post("/v1/fallback", headers=auth, data={
        "task_type": "classification", "text": "ACME GmbH is a B2B buyer", "labels": "B2B,B2C,Unsure",
        "metadata[row]": "7"})
    body = response.get_json()
    assert response.status_code == 200 and body["output"]["label"] == "B2B" and body["metadata"] == {"row": "7"}


def test_jobs_are_private_to_their_key(client, auth, make_key, worker):
    job_id = client.post("/v1/fallback", headers=auth, json={"text": "x", "exec": "async"}).get_json()["job_id"]
    other = {"X-API-Key": make_key(scopes=["fallback"], name="other")}
    assert client.get(f"/v1/jobs/{job_id}", headers=other).status_code == 404
    assert client.get("/v1/jobs/req_nope", headers=auth).status_code == 404
    assert client.get(f"/v1/jobs/{job_id}").status_code == 401


@pytest.mark.parametrize("app", [{"ANTHROPIC_API_KEY": ""}], indirect=True)
def test_without_a_key_every_answer_is_a_dry_run(client, auth, worker, fake_anthropic):
    body = client.post("/v1/fallback", headers=auth, json={"task_type": "summary", "text": "notes"}).get_json()
    assert body["dry_run"] is True and body["output"].startswith("DRY RUN") and body["cost_usd"] == 0
    assert "tier2 -> claude-sonnet-4-6" in body["output"] and fake_anthropic.requests == []


def test_a_reviewer_rerun_runs_the_stored_request_on_another_tier(client, auth, app, worker, fake_anthropic):
    from app.tasks import runner as service
    from app.web.context import runtime_of

    body = client.post("/v1/fallback", headers=auth, json={"task_type": "summary", "text": "notes"}).get_json()
    fake_anthropic.script("claude-opus-4-7", Reply.ok("a better summary", 10, 5))
    (row,) = rows(app, Request, id=body["request_id"])
    outcome = service.rerun_at_tier(runtime_of(app), row.payload, tier="tier3")
    assert (outcome["tier"], outcome["output"], outcome["status"]) == ("tier3", "a better summary", "done")
    assert outcome["request_id"] != body["request_id"] and rows(app, Request, id=outcome["request_id"])


def test_a_job_that_fails_for_good_still_calls_the_workflow_back(client, auth, app, receiver):
    """The request is stored, then its job is recorded as failed after RQ's retries (a worker only delivers)."""
    from app.tasks import runner as service

    response = client.post("/v1/fallback", headers=auth, json={
        "task_type": "summary", "text": "notes", "exec": "async", "callback_url": receiver.url + "/hook?sig=1"})
    job_id = response.get_json()["job_id"]
    from app.web.context import runtime_of

    # as in the worker's job after its last retry
    service.mark_failed(runtime_of(app), job_id, RuntimeError("database went away"), final=True)

    (delivery,) = receiver.wait(1)
    payload = verify(delivery)
    assert (payload["event"], payload["job_id"], payload["status"]) == ("job.finished", job_id, "failed")
    assert "database went away" in payload["error"] and payload["output"] is None
    job = client.get(f"/v1/jobs/{job_id}", headers=auth).get_json()
    assert job["status"] == "failed" and job["result"]["status"] == "failed"
