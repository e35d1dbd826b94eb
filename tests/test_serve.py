"""gunicorn's own refusals (414, 431, 400) and Flask's 404/405 reach the caller as the API's JSON errors.

A real gunicorn process with Tiergate's worker class, spoken to over a raw socket: the oversize request
line and header never reach Flask, so only the worker class can answer them.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.conftest import TEST_QUEUE

START_TIMEOUT_SECONDS = 60
WORKER_CLASSES = ["app.web.serve.TiergateGeventWorker", "app.web.serve.TiergateGthreadWorker"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str
    access_log: Path
    log: Path


@pytest.fixture(scope="module", params=WORKER_CLASSES)
def server(request, tmp_path_factory, redis_url, _sql_template):
    """A gunicorn serving Tiergate on a free port with the worker class under test, writing an access log.

    One server per worker class for the module: nothing here writes, so the tests can share it.
    """
    port = _free_port()
    tmp_path = tmp_path_factory.mktemp("serve")
    log = tmp_path / "gunicorn.log"
    database_url = _sql_template if _sql_template.startswith("postgresql") else f"sqlite:///{tmp_path / 'tiergate.db'}"
    env = {**os.environ, "TIERGATE_DATA_DIR": str(tmp_path / "data"), "REDIS_URL": redis_url,
           "DATABASE_URL": database_url, "TIERGATE_QUEUE": TEST_QUEUE, "PYTHONUNBUFFERED": "1"}
    # The gevent worker needs the standard library patched before the app package is imported.
    launcher = ["-m", "gevent.monkey", "--module", "gunicorn"] if "Gevent" in request.param else ["-m", "gunicorn"]
    process = subprocess.Popen([sys.executable, *launcher, "--bind", f"127.0.0.1:{port}", "--workers", "1",
                                "--worker-class", request.param, "--access-logfile", str(tmp_path / "access.log"),
                                "app:create_app()"],
                               stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        else:
            pytest.fail(f"gunicorn did not start:\n{log.read_text()}")
        yield Server(url, tmp_path / "access.log", log)
    finally:
        process.terminate()
        process.wait(timeout=30)


def raw_exchange(url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` bytes as they are; return status, headers (lower-case names) and body."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
            head, _, body = received.partition(b"\r\n\r\n")
            headers = dict(line.split(": ", 1) for line in head.decode("latin-1").split("\r\n")[1:] if ": " in line)
            headers = {name.lower(): value for name, value in headers.items()}
            if "content-length" in headers and len(body) >= int(headers["content-length"]):
                break
    status = int(head.split(b" ", 2)[1])
    return status, headers, body


def assert_json_error(headers: dict[str, str], body: bytes, code: str) -> dict:
    assert headers["content-type"].startswith("application/json"), body[:200]
    error = json.loads(body)["error"]
    assert error["code"] == code and error["message"] and "field" in error
    return error


def test_a_10kb_request_line_is_json_414(server):
    status, headers, body = raw_exchange(server.url, b"GET /v1/reviews?q=" + b"a" * 10_000 + b" HTTP/1.1\r\n"
                                                 b"Host: tiergate\r\n\r\n")
    assert status == 414
    assert "request line" in assert_json_error(headers, body, "uri_too_long")["message"]


def test_an_oversize_header_is_json_431(server):
    status, headers, body = raw_exchange(server.url, b"GET /healthz HTTP/1.1\r\nHost: tiergate\r\n"
                                                 b"X-Api-Key: " + b"k" * 10_000 + b"\r\n\r\n")
    assert status == 431
    assert_json_error(headers, body, "headers_too_large")


def test_too_many_headers_is_json_431(server):
    many = b"".join(b"X-Filler-%d: x\r\n" % number for number in range(150))
    status, headers, body = raw_exchange(server.url, b"GET /healthz HTTP/1.1\r\nHost: tiergate\r\n" + many + b"\r\n")
    assert status == 431
    assert_json_error(headers, body, "headers_too_large")


def test_a_request_line_that_does_not_parse_is_json_400(server):
    status, headers, body = raw_exchange(server.url, b"\x16\x03\x01 not http at all\r\n\r\n")
    assert status == 400
    assert_json_error(headers, body, "malformed")


@pytest.mark.parametrize("request_bytes, status, code", [
    (b"GET /v1/nothing-here HTTP/1.1\r\nHost: tiergate\r\n\r\n", 404, "not_found"),
    (b"DELETE /v1/route HTTP/1.1\r\nHost: tiergate\r\n\r\n", 405, "method_not_allowed"),
])
def test_flask_404_and_405_are_json_through_gunicorn(server, request_bytes, status, code):
    answered, headers, body = raw_exchange(server.url, request_bytes)
    assert answered == status
    assert_json_error(headers, body, code)


def test_the_access_log_shows_no_query_string(server):
    """An n8n resume URL signs itself in its query; request lines in the access log lose their query."""
    requests.get(f"{server.url}/v1/jobs/req_1?signature=s3cr3t-signature", timeout=10)
    deadline = time.monotonic() + 10
    while "/v1/jobs/" not in server.access_log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)  # gunicorn writes the access line after answering
    logged = server.access_log.read_text()
    assert "/v1/jobs/req_1?" in logged
    assert "s3cr3t-signature" not in logged and "signature=" not in logged


def test_the_web_worker_starts_without_a_late_patch_warning(server):
    """A MonkeyPatchWarning means ssl was imported before gevent patched it: HTTPS via requests would break."""
    logged = server.log.read_text()
    assert "Booting worker" in logged
    assert "MonkeyPatchWarning" not in logged and "patched the standard library after ssl" not in logged
