"""A body that is not the provider's API (a proxy's HTML page, foreign JSON) is a provider failure with its status.

The Anthropic side is the real SDK against the fake Messages API; the OpenAI side is the real provider
against a small chat-completions endpoint that answers whatever the test gives it.
"""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app.cascade import CascadeInput, run_cascade
from app.errors import ProviderError
from app.policy import load_policy
from app.providers import ModelCall, OpenAIProvider
from tests.support.fake_anthropic import Reply

HAIKU = "claude-haiku-4-5"
HTML_PAGE = b"<!DOCTYPE html><html><body>Proxy login required</body></html>"


def call() -> ModelCall:
    return ModelCall(model=HAIKU, messages=[{"role": "user", "content": "ACME GmbH, 40 seats"}], max_tokens=100)


@pytest.mark.parametrize("reply", [
    Reply.html_page(200),
    Reply(raw_body=b'{"status": "ok", "served_by": "proxy"}'),       # JSON, but not a message
    Reply(raw_body=b'["not", "a", "message"]'),
], ids=["html-page", "foreign-json-object", "json-array"])
def test_anthropic_body_that_is_not_a_message_is_a_provider_error_with_its_status(fake_anthropic, sdk_provider,
                                                                                   reply):
    fake_anthropic.script(HAIKU, reply)
    with pytest.raises(ProviderError) as raised:
        sdk_provider.complete(call())
    assert raised.value.status == 200
    assert "HTTP 200" in str(raised.value) and "not a Messages API answer" in str(raised.value)


def test_a_cascade_meeting_an_html_page_records_a_failed_attempt_instead_of_crashing(fake_anthropic, sdk_provider):
    policy = load_policy()
    task = policy.task_types["classification"]
    for model in {tier.model for tier in policy.tiers.values()}:
        fake_anthropic.script(model, *[Reply.html_page(200)] * 5)
    result = run_cascade(policy, CascadeInput(task_type="classification", task=task, tier=task.tier, text="ACME GmbH"),
                         {tier: sdk_provider for tier in policy.tiers})
    provider_attempts = [attempt for attempt in result.attempts if attempt.gate == "provider"]
    assert provider_attempts and not any(attempt.ok for attempt in result.attempts)
    assert all("HTTP 200" in attempt.reason for attempt in provider_attempts)


class RawEndpoint:
    """A chat-completions endpoint answering one fixed status, content type and body to every request."""

    def __init__(self, status: int, content_type: str, body: bytes):
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers["content-length"]))
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("content_type, body", [
    ("text/html", HTML_PAGE),
    ("application/json", b'["not", "a", "completion"]'),
    ("application/json", b'{"choices": [{"message": {"content": "hi"}}], "usage": ["odd"]}'),
], ids=["html-page", "json-array", "usage-not-an-object"])
def test_openai_body_that_is_not_a_completion_is_a_provider_error_with_its_status(content_type, body):
    endpoint = RawEndpoint(200, content_type, body)
    try:
        with pytest.raises(ProviderError) as raised:
            OpenAIProvider(endpoint.url, timeout=2, max_retries=0).complete(call())
    finally:
        endpoint.close()
    assert raised.value.status == 200 and "HTTP 200" in str(raised.value)
