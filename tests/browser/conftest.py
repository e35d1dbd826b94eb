"""A real server, a real headless Chromium and a local callback receiver for the page tests.

Chromium is Debian's (``/usr/bin/chromium``), driven by Playwright's Python package; no browser is ever
downloaded. The app runs in a werkzeug server thread on an ephemeral loopback port, built from the same
fixtures as every other test (real Redis, real SQL); callbacks are delivered by an in-process RQ worker
to an ``http.server`` thread that keeps what it received.
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from app.config import load_settings
from app.web.context import runtime_of
from tests.conftest import TEST_QUEUE
from tests.review_seed import run_queued_jobs

CALLBACK_SECRET = "test-callback-secret-for-the-receiver"


@pytest.fixture
def settings(tmp_path, redis_url, database_url, redis_conn):
    """The usual settings, plus a known callback secret and the loopback receiver allowed as a target."""
    return load_settings(TIERGATE_DATA_DIR=tmp_path / "data", REDIS_URL=redis_url, DATABASE_URL=database_url,
                         TIERGATE_QUEUE=TEST_QUEUE, TIERGATE_CALLBACK_SECRET=CALLBACK_SECRET,
                         TIERGATE_CALLBACK_ALLOW_HOSTS="127.0.0.1")


@pytest.fixture
def live_server(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="tiergate-live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)
    server.server_close()


class Receiver:
    """What a workflow's Wait node would receive: each POST's headers and raw body."""

    def __init__(self):
        self.calls: list[tuple[dict[str, str], bytes]] = []
        received = self.calls

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append(({k: v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/webhook-waiting/exec-42?token=abc"
        self.thread = threading.Thread(target=self.server.serve_forever, name="callback-receiver", daemon=True)

    def payloads(self) -> list[dict]:
        return [json.loads(body) for _headers, body in self.calls]

    def wait(self, count: int = 1, timeout: float = 20.0) -> list[tuple[dict[str, str], bytes]]:
        """The calls once ``count`` have arrived: a decision's callback is delivered in the background
        after its commit (``app.execution.outbox.kick``), not before the page has moved on."""
        deadline = time.monotonic() + timeout
        while len(self.calls) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.calls) >= count, f"{len(self.calls)} of {count} callbacks arrived within {timeout} s"
        return list(self.calls)


@pytest.fixture
def receiver():
    server = Receiver()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.thread.join(10)
    server.server.server_close()


@pytest.fixture
def run_jobs(app, redis_conn, monkeypatch):
    """Run every queued job now in this process, as a worker would (burst mode, no fork)."""
    monkeypatch.setattr("workers.context._runtime", runtime_of(app))
    return lambda: run_queued_jobs(app)


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    yield tab
    context.close()


@pytest.fixture
def artifacts(project_root) -> Path:
    folder = project_root / "test-artifacts"
    folder.mkdir(exist_ok=True)
    return folder
