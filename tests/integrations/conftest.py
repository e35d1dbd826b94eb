"""Fixtures for replaying Make and Zapier requests against a running Tiergate.

Tiergate runs as a real HTTP server on a loopback port with a real RQ worker process beside it (a
synchronous /v1/fallback waits for the worker, as in production); model calls go to the fake Messages
API, and callbacks go to a local receiver that answers like a Zapier Catch Hook or a Make custom webhook.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from werkzeug.serving import make_server

from tests.integrations.make_runner import HttpAnswer, SentRequest
from tests.support.fake_anthropic import FakeAnthropic
from tests.support.worker import WorkerProcess

CALLBACK_WAIT_SECONDS = 20.0


@pytest.fixture
def fake_model():
    with FakeAnthropic() as fake:
        yield fake


@pytest.fixture
def settings(settings, fake_model):
    """The shared settings, with the fake model as provider and loopback callbacks allowed."""
    return settings.model_copy(update={
        "anthropic_api_key": "sk-ant-test-integrations",
        "anthropic_base_url": fake_model.url,
        "callback_allow_hosts": "127.0.0.1,localhost",
    })


@pytest.fixture
def worker(app, redis_conn):
    """A real worker process with the app's settings (the one ``tiergate up`` starts)."""
    process = WorkerProcess(app.config["TIERGATE"], redis_conn).start()
    yield process
    process.stop()


@pytest.fixture
def tiergate_url(app, worker):
    """Tiergate served over real HTTP (werkzeug, threaded) for the duration of a test."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="tiergate-live", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class CatchHook:
    """A local stand-in for a Zapier Catch Hook / Make custom webhook: records every POST."""

    url: str
    received: list[Received] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int = 1, path: str | None = None, timeout: float = CALLBACK_WAIT_SECONDS) -> list[Received]:
        def matching() -> list[Received]:
            return [r for r in self.received if path is None or r.path == path]

        with self.arrived:
            self.arrived.wait_for(lambda: len(matching()) >= count, timeout=timeout)
        found = matching()
        assert len(found) >= count, f"expected {count} POST(s) to {path or 'the hook'}, got {len(found)}"
        return found


@pytest.fixture
def catch_hook():
    hook_holder: list[CatchHook] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            hook = hook_holder[0]
            with hook.arrived:
                hook.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                hook.arrived.notify_all()
            # What a Zapier Catch Hook answers.
            answer = json.dumps({"status": "success", "attempt": "test", "id": "test"}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    hook_holder.append(CatchHook(f"http://127.0.0.1:{server.server_address[1]}"))
    thread = threading.Thread(target=server.serve_forever, name="catch-hook", daemon=True)
    thread.start()
    yield hook_holder[0]
    server.shutdown()
    server.server_close()


@pytest.fixture
def transport():
    """Send a request built from a blueprint over real HTTP."""
    def _send(request: SentRequest) -> HttpAnswer:
        response = requests.request(request.method, request.url, headers=request.headers, data=request.body,
                                    timeout=60)
        return HttpAnswer(response.status_code, dict(response.headers), response.content)
    return _send


@pytest.fixture
def callback_secret(app) -> str:
    return app.config["TIERGATE"].callback_secret


def assert_signed(received: Received, secret: str) -> None:
    """The callback carries the contract's HMAC-SHA256 over ``"<timestamp>.<body>"``."""
    timestamp = received.headers["x-tiergate-timestamp"]
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + received.body, hashlib.sha256).hexdigest()
    assert received.headers["x-tiergate-signature"] == f"sha256={expected}"

