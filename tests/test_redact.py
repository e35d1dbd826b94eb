"""URLs in logs keep scheme, host, port and a first path segment; queries, fragments, tokens and passwords go."""
from __future__ import annotations

import io
import logging
import socket

import pytest
import requests

from app.redact import RedactUrlsFilter, install_log_redaction, redact_text, redact_url

N8N_RESUME_URL = "http://n8n:5678/webhook-waiting/123?signature=abc"


@pytest.mark.parametrize("url, redacted", [
    (N8N_RESUME_URL, "http://n8n:5678/webhook-waiting/…"),
    ("https://hook.eu1.make.com/abcdefghijklmnopqrstuvwxyz123456", "https://hook.eu1.make.com/…"),  # path is a token
    ("https://hooks.zapier.com/hooks/catch/123456/abcdef1/", "https://hooks.zapier.com/hooks/…"),
    ("https://ops:hunter2@receiver.example/in", "https://receiver.example/in"),
    ("https://receiver.example/in#token=abc", "https://receiver.example/in/…"),
    ("https://receiver.example?key=abc", "https://receiver.example/…"),
    ("https://[fd00::1]:8443/callback/x", "https://[fd00::1]:8443/callback/…"),
    ("https://receiver.example", "https://receiver.example"),
    ("http://host:99999/x?key=abc", "…"),  # does not parse: keep nothing
    ("/webhook-waiting/123?signature=abc", "/webhook-waiting/123?…"),
])
def test_redact_url(url, redacted):
    assert redact_url(url) == redacted


def test_redact_text_finds_urls_and_request_paths_in_a_log_line():
    line = (f"callback to {N8N_RESUME_URL} failed (HTTPConnectionPool(host='n8n', port=5678): Max retries exceeded "
            f"with url: /webhook-waiting/123?signature=abc); see {N8N_RESUME_URL}.")
    assert redact_text(line) == ("callback to http://n8n:5678/webhook-waiting/… failed (HTTPConnectionPool(host='n8n', "
                                 "port=5678): Max retries exceeded with url: /webhook-waiting/123?…); see "
                                 "http://n8n:5678/webhook-waiting/….")
    assert redact_text("is it done? 3 # of 4") == "is it done? 3 # of 4"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_failed_callback_logged_with_its_traceback_shows_no_query_string():
    """A real POST to a resume URL that refuses the connection, logged as a worker would log it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("tests.redact")
    logger.addHandler(handler)
    install_log_redaction()
    url = f"http://127.0.0.1:{_closed_port()}/webhook-waiting/123?signature=abc"
    try:
        try:
            requests.post(url, json={"status": "done"}, timeout=2)
        except requests.RequestException:
            logger.exception("callback to %s failed", url)
    finally:
        logger.removeHandler(handler)
    logged = stream.getvalue()
    assert "callback to http://127.0.0.1:" in logged and "/webhook-waiting/…" in logged
    assert "Traceback" in logged and "ConnectionError" in logged
    assert "signature" not in logged and "?signature=abc" not in logged


def test_the_filter_works_on_a_handler_of_its_own():
    """For handlers set up outside the app (an RQ worker's), the same redaction as a plain logging filter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactUrlsFilter())
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "delivering %s (%d of %d)", (N8N_RESUME_URL, 1, 5),
                               None)
    handler.handle(record)
    assert stream.getvalue() == "delivering http://n8n:5678/webhook-waiting/… (1 of 5)\n"
