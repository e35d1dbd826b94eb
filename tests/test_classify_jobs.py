"""Long lists as background jobs: a 3,000-row lead list with progress, every row answered or flagged,
the cached prefix read on every chunk after the first, a resumed job that does not pay twice."""
from __future__ import annotations

import json
import threading
import time

import pytest
from rq import SimpleWorker
from rq.job import Job
from sqlalchemy import func, select

import workers.context
from app.store import Attempt, Request
from tests.support.sme_responder import sme_responder
from tests.test_classify import GLOSSARY, LABELS, SONNET, app_with_fake

LEAD_ROWS = ["{n}: Acme {n} GmbH, B2B wholesale order", "{n}: gift for my son, B2C", "{n}: enquiry via web form"]


def lead_list(count: int) -> list[dict]:
    return [{"lead_id": f"L{n:05d}", "company": LEAD_ROWS[n % 3].format(n=n)} for n in range(count)]


@pytest.fixture
def app(tmp_path, redis_url, database_url, redis_conn, fake_anthropic):
    """The default chunk size (50) and sync limit (200)."""
    application = app_with_fake(tmp_path, redis_url, database_url, fake_anthropic)
    yield application
    application.extensions["store"].dispose()


def run_worker(app, monkeypatch) -> None:
    """Run the queued jobs in this process, with the test's app as the worker's app."""
    monkeypatch.setattr(workers.context, "_app", app)
    queue = app.extensions["job_queue"].queue
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


def test_three_thousand_leads_run_as_a_job_with_progress(client, auth, app, fake_anthropic, monkeypatch):
    redis = app.extensions["job_queue"].redis
    seen_progress = []
    # Chunks run concurrently, so the fake serves several calls at once: read and record under one lock,
    # or the list's order would be the threads' order, not the order the progress was read in.
    reading = threading.Lock()

    def responder(body):  # what GET /v1/jobs/<id> would show while the list runs
        with reading:
            seen_progress.append((Job.fetch(job_id, connection=redis).meta.get("progress") or {}).get("done", 0))
        return sme_responder(body)

    fake_anthropic.responder = responder
    response = client.post("/v1/classify", json={
        "items": lead_list(3000), "text_field": "company", "id_field": "lead_id", "labels": LABELS,
        # The glossary brings the prefix over Haiku 4.5's 4,096-token cache minimum.
        "instructions": "B2B: the buyer is a company. B2C: a private person. Unsure: the row does not say. " + GLOSSARY},
        headers=auth)
    assert response.status_code == 202
    queued = response.get_json()
    job_id = queued["job_id"]
    assert queued["status"] == "queued" and queued["status_url"].endswith(f"/v1/jobs/{job_id}")

    run_worker(app, monkeypatch)

    job = Job.fetch(job_id, connection=redis)
    assert job.get_status() == "finished" and job.meta["progress"] == {"done": 3000, "total": 3000}
    assert seen_progress[0] == 0 and 0 < seen_progress[len(seen_progress) // 2] < 3000
    assert seen_progress == sorted(seen_progress)
    result = job.return_value()
    results = result["results"]
    assert len(results) == 3000 and [r["id"] for r in results] == [f"L{n:05d}" for n in range(3000)]
    assert all(r["label"] in ("B2B", "B2C") and not r["needs_review"] or r["label"] == "unknown" and r["needs_review"]
               for r in results)
    assert result["counts"] == {"B2B": 1000, "B2C": 1000, "Unsure": 0, "unknown": 1000}
    assert result["status"] == "needs_review" and result["review_id"]
    with app.extensions["store"].session() as session:
        row = session.get(Request, job_id)
        assert (row.status, row.progress_done, row.progress_total) == ("needs_review", 3000, 3000)
        assert row.result == result
        answers = session.scalars(select(Attempt).where(Attempt.request_id == job_id, Attempt.tier == "tier1")
                                  .order_by(Attempt.seq)).all()
    # 60 chunks of 50 on tier1; the prefix is written once and read by every later call.
    assert len(answers) == 60 and answers[0].cache_write_tokens > 0
    assert all(a.cache_read_tokens == answers[0].cache_write_tokens and not a.cache_write_tokens for a in answers[1:])
    assert len(fake_anthropic.requests_for(SONNET)) == 60  # one escalation per chunk for the unsure rows


def test_async_request_answers_202_and_the_job_result_is_the_contract_answer(client, auth, app, fake_anthropic,
                                                                            monkeypatch):
    response = client.post("/v1/classify", json={"items": ["Acme GmbH B2B"], "labels": LABELS, "exec": "async"},
                           headers=auth)
    assert response.status_code == 202
    run_worker(app, monkeypatch)
    job = Job.fetch(response.get_json()["job_id"], connection=app.extensions["job_queue"].redis)
    assert job.return_value()["results"][0]["label"] == "B2B"
    jobs_view = "api.get_job" in app.view_functions or any(r.rule == "/v1/jobs/<job_id>" for r in app.url_map.iter_rules())
    if jobs_view:
        status = client.get(f"/v1/jobs/{job.id}", headers=auth).get_json()
        assert status["progress"] == {"done": 1, "total": 1} and status["result"]["results"][0]["label"] == "B2B"


def test_a_worker_killed_mid_list_resumes_without_paying_again_for_finished_chunks(tmp_path, redis_url, database_url,
                                                                                    redis_conn, make_key):
    """Chunk 1 is answered, the worker is SIGKILLed during chunk 2's call: another worker finishes the list,
    chunk 1 is not asked again, and the lost call is in the ledger at its estimated cost."""
    from tests.support.fake_anthropic import FakeAnthropic, Reply
    from tests.support.worker import WorkerProcess

    calls = []

    def second_call_hangs(body):
        calls.append(body)
        return Reply.hang(60, text="never delivered") if len(calls) == 2 else sme_responder(body)

    with FakeAnthropic(second_call_hangs) as fake:
        application = app_with_fake(tmp_path, redis_url, database_url, fake)
        try:
            auth = {"X-API-Key": _key(application)}
            items = [f"B2B company {n}" for n in range(100)]  # two chunks of 50
            request_id = application.test_client().post("/v1/classify", headers=auth, json={
                "items": items, "labels": LABELS, "exec": "async"}).get_json()["job_id"]
            first = WorkerProcess(application.config["TIERGATE"], redis_conn).start()
            deadline = time.monotonic() + 30
            while len(calls) < 2:
                assert time.monotonic() < deadline, "the second chunk was never asked"
                time.sleep(0.05)
            first.kill()
            second = WorkerProcess(application.config["TIERGATE"], redis_conn).start()
            try:
                deadline = time.monotonic() + 120
                while _row(application, request_id).status != "done":
                    assert time.monotonic() < deadline, "the list was not finished after the kill"
                    time.sleep(0.2)
            finally:
                second.stop()
            row = _row(application, request_id)
            assert len(row.result["results"]) == 100 and row.result["counts"]["B2B"] == 100
            assert len(calls) == 3  # chunk 1 once, chunk 2 twice (the lost call and its re-run)
            with application.extensions["store"].session() as session:
                attempts = session.scalars(select(Attempt).where(Attempt.request_id == request_id)
                                           .order_by(Attempt.seq)).all()
            assert [a.purpose for a in attempts] == ["answer", "lost", "answer"]
            assert attempts[1].cost_usd > 0 and row.cost_usd == sum(a.cost_usd for a in attempts)
        finally:
            application.extensions["store"].dispose()


def _key(application) -> str:
    from app.api.auth import SCOPES, create_key

    with application.extensions["store"].session() as session:
        return create_key(session, "test", list(SCOPES))[1]


def _row(application, request_id):
    with application.extensions["store"].session() as session:
        return session.get(Request, request_id)


@pytest.fixture
def live(tmp_path, redis_url, database_url, redis_conn, fake_anthropic, request):
    """An app that calls back to 127.0.0.1, a real worker process, and a callback receiver."""
    from tests.support.receiver import CallbackReceiver
    from tests.support.worker import WorkerProcess
    from tests.test_fallback_api import CALLBACK_SECRET

    overrides = dict(TIERGATE_CALLBACK_ALLOW_HOSTS="127.0.0.1", TIERGATE_CALLBACK_SECRET=CALLBACK_SECRET,
                     TIERGATE_CLASSIFY_CHUNK_SIZE=5, **getattr(request, "param", {}))
    application = app_with_fake(tmp_path, redis_url, database_url, fake_anthropic, **overrides)
    worker = WorkerProcess(application.config["TIERGATE"], redis_conn).start()
    receiver = CallbackReceiver()
    yield application, receiver
    receiver.close()
    worker.stop()
    application.extensions["store"].dispose()


def test_async_list_calls_back_signed_with_every_row_and_the_job_shows_progress(live, make_key):
    from tests.test_fallback_api import verify

    app, receiver = live
    auth = {"X-API-Key": make_key()}
    client = app.test_client()
    items = [{"id": f"row-{n}", "text": f"Acme {n} GmbH is a B2B buyer"} for n in range(12)]
    response = client.post("/v1/classify", headers=auth, json={
        "items": items, "id_field": "id", "labels": LABELS, "exec": "async",
        "callback_url": receiver.url + "/hook?wf=7", "metadata": {"sheet": "leads"}})
    assert response.status_code == 202
    job_id = response.get_json()["job_id"]
    (delivery,) = receiver.wait(1)
    payload = verify(delivery)
    assert (payload["event"], payload["job_id"], payload["request_id"], payload["status"]) == (
        "job.finished", job_id, job_id, "done")
    assert [r["id"] for r in payload["results"]] == [f"row-{n}" for n in range(12)]
    assert payload["counts"]["B2B"] == 12 and payload["metadata"] == {"sheet": "leads"}
    job = client.get(f"/v1/jobs/{job_id}", headers=auth).get_json()
    assert (job["status"], job["progress"]) == ("done", {"done": 12, "total": 12})
    assert job["result"]["results"] == payload["results"]


@pytest.mark.parametrize("live", [{"TIERGATE_SYNC_WAIT_SECONDS": 0.001}], indirect=True)
def test_a_sync_list_past_the_bound_answers_202_and_a_worker_finishes_it(live, make_key):
    app, receiver = live
    auth = {"X-API-Key": make_key()}
    response = app.test_client().post("/v1/classify", headers=auth, json={
        "items": [f"B2B firm {n}" for n in range(15)], "labels": LABELS, "callback_url": receiver.url + "/hook"})
    assert response.status_code == 202  # the first chunk ran in the call; the rest went to the worker
    (delivery,) = receiver.wait(1)
    payload = json.loads(delivery.body)
    assert len(payload["results"]) == 15 and payload["counts"]["B2B"] == 15
    with app.extensions["store"].session() as session:
        assert session.scalar(select(func.count()).select_from(Attempt)
                              .where(Attempt.request_id == payload["request_id"])) == 3


def test_a_repeated_idempotency_key_replays_the_list_without_new_calls(client, auth, app, fake_anthropic):
    headers = {**auth, "Idempotency-Key": "sheet-42-run-1"}
    first = client.post("/v1/classify", headers=headers, json={"items": ["B2B shop"], "labels": LABELS})
    again = client.post("/v1/classify", headers=headers, json={"items": ["B2B shop"], "labels": LABELS})
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json() and len(fake_anthropic.requests) == 1
    conflict = client.post("/v1/classify", headers=headers, json={"items": ["other"], "labels": LABELS})
    assert conflict.status_code == 409


def test_a_list_whose_job_fails_for_good_still_answers_every_row(client, auth, app):
    """RQ gave up on the job (no worker ran it here): every row comes back flagged, none is dropped."""
    from app.classify import service

    items = [{"lead_id": f"L{n}", "company": f"Acme {n} GmbH"} for n in range(7)]
    response = client.post("/v1/classify", json={"items": items, "text_field": "company", "id_field": "lead_id",
                                                 "labels": LABELS, "exec": "async"}, headers=auth)
    job_id = response.get_json()["job_id"]
    with app.app_context():  # as in the worker's job
        service.mark_failed(app, job_id, RuntimeError("database went away"), final=True)

    job = client.get(f"/v1/jobs/{job_id}", headers=auth).get_json()
    assert job["status"] == "failed"
    results = job["result"]["results"]
    assert [result["id"] for result in results] == [item["lead_id"] for item in items]
    assert all(result["needs_review"] and result["label"] is None for result in results)
    assert all("database went away" in result["error"]["message"] for result in results)
