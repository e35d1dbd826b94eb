"""The execution path under real traffic: slow models, many calls in flight, killed processes, outages.

Everything here is a real process: gunicorn with its gevent workers (``tests.support.server``), worker
processes (``tests.support.worker``), the fake Messages API answering after a delay like a real model,
and a callback receiver. Nothing of Tiergate's is patched; crashes are SIGKILLs.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import func, select

from app import create_app
from app.api.auth import create_key
from app.store import Attempt, Delivery, Request
from tests.support.fake_anthropic import FakeAnthropic, Reply
from tests.support.receiver import CallbackReceiver
from tests.support.server import WebServer
from tests.support.worker import WorkerProcess
from tests.test_fallback_api import fallback_settings, verify

SONNET = "claude-sonnet-4-6"
SUMMARY = {"task_type": "summary", "text": "Meeting notes: we agreed to ship the new price list on Friday."}


@pytest.fixture
def slow_model():
    """A model that takes a second to answer, like a real one (most take 1-30 s)."""
    with FakeAnthropic(latency_seconds=1.0) as fake:
        yield fake


@pytest.fixture
def stack(tmp_path, redis_url, database_url, redis_conn, slow_model, request):
    """Settings, an app for reading the ledger, an API key, and a receiver; servers start in the tests."""
    overrides = {"TIERGATE_SYNC_WAIT_SECONDS": 15, "TIERGATE_PROVIDER_TIMEOUT_SECONDS": 30,
                 **getattr(request, "param", {})}
    settings = fallback_settings(tmp_path, redis_url, database_url, slow_model, **overrides)
    app = create_app(settings, migrate=False)
    with app.extensions["store"].session() as session:
        _key, plain = create_key(session, "test", ["route", "fallback", "classify"])
    receiver = CallbackReceiver()
    started: list = []
    yield Stack(settings, app, {"X-API-Key": plain}, receiver, started, redis_conn, slow_model)
    for process in reversed(started):
        process.stop()
    receiver.close()
    app.extensions["store"].dispose()


class Stack:
    def __init__(self, settings, app, auth, receiver, started, redis, fake):
        self.settings, self.app, self.auth, self.receiver = settings, app, auth, receiver
        self.started, self.redis, self.fake = started, redis, fake

    def web(self, **options) -> WebServer:
        server = WebServer(self.settings, **options).start()
        self.started.append(server)
        return server

    def worker(self) -> WorkerProcess:
        process = WorkerProcess(self.settings, self.redis).start()
        self.started.append(process)
        return process

    def scalar(self, statement):
        with self.app.extensions["store"].session() as session:
            return session.scalar(statement)

    def row(self, request_id: str) -> Request:
        with self.app.extensions["store"].session() as session:
            return session.get(Request, request_id)

    def wait_for(self, condition, seconds: float, what: str):
        deadline = time.monotonic() + seconds
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.1)


def test_a_hundred_sync_calls_to_a_slow_model_run_at_once_and_route_still_answers(stack):
    server = stack.web()
    session = requests.Session()
    route_times: list[float] = []
    stop = threading.Event()

    def route_meanwhile():
        while not stop.is_set():
            started = time.monotonic()
            answer = requests.post(server.url + "/v1/route", headers=stack.auth, json=SUMMARY, timeout=10)
            route_times.append(time.monotonic() - started)
            assert answer.status_code == 200
            time.sleep(0.05)

    def one(_n):
        answer = requests.post(server.url + "/v1/fallback", headers=stack.auth, json=SUMMARY, timeout=60)
        return answer.status_code, answer.json()

    prober = threading.Thread(target=route_meanwhile)
    prober.start()
    started = time.monotonic()
    with ThreadPoolExecutor(100) as pool:
        answers = list(pool.map(one, range(100)))
    wall = time.monotonic() - started
    stop.set()
    prober.join()
    session.close()

    assert [status for status, _ in answers] == [200] * 100
    assert {body["status"] for _, body in answers} == {"done"}
    assert wall < 15, f"100 calls to a 1 s model took {wall:.1f} s: they did not run at once"
    assert len(route_times) >= 3 and max(route_times) < 2.0, route_times
    assert stack.scalar(select(func.count()).select_from(Request).where(Request.status == "done")) == 100


@pytest.mark.parametrize("stack", [{"TIERGATE_SYNC_WAIT_SECONDS": 2}], indirect=True)
def test_a_sync_request_still_running_at_the_bound_answers_202_and_the_callback_carries_the_answer(stack):
    stack.fake.latency_seconds = 4.0
    server = stack.web()
    started = time.monotonic()
    answer = requests.post(server.url + "/v1/fallback", headers=stack.auth,
                           json={**SUMMARY, "callback_url": stack.receiver.url + "/resume?signature=abc"}, timeout=30)
    assert answer.status_code == 202 and 1.8 < time.monotonic() - started < 3.5
    job_id = answer.json()["job_id"]
    (delivery,) = stack.receiver.wait(1, timeout=20)
    payload = verify(delivery)
    assert (payload["event"], payload["job_id"], payload["status"]) == ("job.finished", job_id, "done")
    job = lambda: requests.get(f"{server.url}/v1/jobs/{job_id}", headers=stack.auth, timeout=10).json()  # noqa: E731
    assert job()["status"] == "done" and job()["result"]["output"] == payload["output"]
    stack.wait_for(lambda: job()["callbacks"][0]["status"] == "delivered", 10, "the delivery to be recorded")
    time.sleep(1)
    assert len(stack.receiver.deliveries) == 1 and len(stack.fake.requests) == 1


def test_a_web_process_killed_mid_request_leaves_the_request_to_a_worker_once(stack):
    stack.fake.latency_seconds = 3.0
    server = stack.web()
    body = {**SUMMARY, "callback_url": stack.receiver.url + "/resume?signature=abc"}
    caller = threading.Thread(target=lambda: _post_ignoring_errors(server.url + "/v1/fallback", stack.auth, body))
    caller.start()
    stack.wait_for(lambda: len(stack.fake.requests) == 1, 20, "the model call")
    server.kill()  # the web process dies while the model call is in flight
    caller.join()
    stack.fake.latency_seconds = 0.0
    stack.worker()
    (delivery,) = stack.receiver.wait(1, timeout=120)
    payload = verify(delivery)
    assert payload["status"] == "done"
    request_id = payload["request_id"]
    time.sleep(2)
    assert len(stack.receiver.deliveries) == 1
    assert stack.scalar(select(func.count()).select_from(Request)) == 1
    with stack.app.extensions["store"].session() as session:
        attempts = session.scalars(select(Attempt).where(Attempt.request_id == request_id).order_by(Attempt.seq)).all()
    # The call lost with the web process is in the ledger at its estimated cost, then the worker's call.
    assert [(a.purpose, a.ok) for a in attempts] == [("lost", False), ("answer", True)]
    assert attempts[0].cost_usd > 0 and stack.row(request_id).cost_usd == attempts[0].cost_usd + attempts[1].cost_usd
    assert len(stack.fake.requests) == 2


def test_a_worker_killed_mid_job_has_the_job_running_again_within_two_minutes(stack):
    stack.fake.script(SONNET, Reply.hang(60, text="never delivered"))
    server = stack.web()
    first = stack.worker()
    job_id = requests.post(server.url + "/v1/fallback", headers=stack.auth, timeout=10, json={
        **SUMMARY, "exec": "async", "callback_url": stack.receiver.url + "/resume?signature=abc"}).json()["job_id"]
    stack.wait_for(lambda: len(stack.fake.requests_for(SONNET)) == 1, 20, "the model call")
    first.kill()
    killed_at = time.monotonic()
    stack.worker()
    (delivery,) = stack.receiver.wait(1, timeout=120)
    assert time.monotonic() - killed_at < 120
    payload = verify(delivery)
    assert (payload["job_id"], payload["status"]) == (job_id, "done")
    time.sleep(2)
    assert len(stack.receiver.deliveries) == 1
    purposes = [a["purpose"] for a in payload["attempts"]]
    assert purposes == ["lost", "answer"] and payload["attempts"][0]["cost_usd"] > 0


def test_the_same_idempotency_key_after_a_redis_flush_pays_and_calls_back_once(stack):
    stack.fake.latency_seconds = 0.0
    server = stack.web()
    stack.worker()
    headers = {**stack.auth, "Idempotency-Key": "order-4711"}
    body = {**SUMMARY, "exec": "async", "callback_url": stack.receiver.url + "/resume?signature=abc"}
    first = requests.post(server.url + "/v1/fallback", headers=headers, json=body, timeout=10)
    stack.receiver.wait(1, timeout=30)
    stack.redis.flushdb()
    again = requests.post(server.url + "/v1/fallback", headers=headers, json=body, timeout=10)
    assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["request_id"] == first.json()["job_id"]
    changed = requests.post(server.url + "/v1/fallback", headers=headers, json={**body, "text": "other"}, timeout=10)
    assert changed.status_code == 409 and changed.json()["error"]["field"] == "Idempotency-Key"
    time.sleep(2)
    assert len(stack.fake.requests) == 1 and len(stack.receiver.deliveries) == 1


@pytest.mark.parametrize("stack", [{"TIERGATE_COOLDOWN_SECONDS": 2, "TIERGATE_SYNC_WAIT_SECONDS": 25}], indirect=True)
def test_after_a_provider_outage_ends_no_request_fails(stack):
    """529 for 20 s, then healthy: requests sent after recovery all succeed (no cooldown outlives it), and
    none of them is paid on a dearer tier."""
    stack.fake.latency_seconds = 0.2
    server = stack.web()
    stack.fake.outage(20)
    recovered_at = time.monotonic() + 20
    answers: list[tuple[float, int, dict]] = []

    def one(delay: float):
        time.sleep(delay)
        sent = time.monotonic()
        answer = requests.post(server.url + "/v1/fallback", headers=stack.auth, json=SUMMARY, timeout=60)
        answers.append((sent, answer.status_code, answer.json()))

    with ThreadPoolExecutor(60) as pool:
        list(pool.map(one, [n * 0.5 for n in range(60)]))  # one request every 0.5 s for 30 s
    after = [(status, body) for sent, status, body in answers if sent > recovered_at]
    assert len(after) >= 15
    assert all(status == 200 and body["status"] == "done" for status, body in after), after
    assert all(body["tier"] == "tier2" for _, body in after)  # summaries start on tier2 and stay there
    during = [body for sent, status, body in answers if sent < recovered_at - 5]
    assert all(body["status"] in ("done", "failed") for body in during)
    assert not any(a["tier"] == "tier3" for body in during for a in body.get("attempts", []))


def _post_ignoring_errors(url, headers, body):
    try:
        requests.post(url, headers=headers, json=body, timeout=30)
    except requests.RequestException:
        pass  # the server was killed under it


