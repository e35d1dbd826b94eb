"""Providers: the real Anthropic SDK against the fake API, an OpenAI-compatible endpoint, dry run, circuit breaker."""
from __future__ import annotations

import gzip
import json
import socket
import ssl
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from app.config import load_settings
from app.errors import ProviderError
from app.policy import load_policy, parse_policy
from app.policy.loader import default_policy_text
from app.pricing import Usage
from app.providers import (PROVIDERS, AnthropicProvider, CircuitBreaker, DryRunProvider, ModelCall, OpenAIProvider,
                           build_tier_providers)
from tests.support.fake_anthropic import Reply

HAIKU = "claude-haiku-4-5"


def call(**overrides) -> ModelCall:
    fields = dict(model=HAIKU, messages=[{"role": "user", "content": "ACME GmbH, 40 seats"}],
                  cached_system="You classify leads.", system="Allowed labels: B2B, B2C", max_tokens=100)
    fields.update(overrides)
    return ModelCall(**fields)


def provider(fake, **options) -> AnthropicProvider:
    options.setdefault("timeout", 2.0)
    options.setdefault("max_retries", 0)
    return AnthropicProvider("test-key", fake.url, **options)


# -- Anthropic -------------------------------------------------------------------------------------

def test_anthropic_marks_the_stable_prefix_for_the_cache_and_reads_cache_usage(fake_anthropic, sdk_provider):
    fake_anthropic.script(HAIKU, Reply.ok('{"label": "B2B"}', 12, 6, cache_write_tokens=900, cache_read_tokens=0))
    reply = sdk_provider.complete(call(json_output=True))
    assert reply.text == '{"label": "B2B"}'
    assert reply.usage == Usage(input_tokens=12, output_tokens=6, cache_write_tokens=900, cache_read_tokens=0)
    assert reply.stop_reason == "end_turn" and reply.model == HAIKU and reply.latency_ms > 0
    sent = fake_anthropic.requests_for(HAIKU)[0]
    assert sent.system[0] == {"type": "text", "text": "You classify leads.", "cache_control": {"type": "ephemeral"}}
    assert sent.uncached_system == ["Allowed labels: B2B, B2C\n\nAnswer with JSON only: no prose and no code fences."]
    assert sent.body["max_tokens"] == 100 and sent.messages == [{"role": "user", "content": "ACME GmbH, 40 seats"}]


def test_anthropic_tool_call_comes_back_as_the_api_sent_it(fake_anthropic, sdk_provider):
    # The answer is read as plain JSON: a tool argument the model set to null is the client's to see.
    fake_anthropic.script(HAIKU, Reply.tool_use("lookup", {"city": "Berlin", "zip": None}, text="Checking."))
    reply = sdk_provider.complete(call())
    assert reply.text == "Checking." and reply.stop_reason == "tool_use"
    text, tool = reply.content
    assert text == {"type": "text", "text": "Checking."}
    assert (tool["type"], tool["name"], tool["input"]) == ("tool_use", "lookup", {"city": "Berlin", "zip": None})
    assert tool["id"].startswith("toolu_")


def test_anthropic_sends_no_system_when_there_is_none(fake_anthropic, sdk_provider):
    sdk_provider.complete(call(cached_system="", system=""))
    assert "system" not in fake_anthropic.requests[0].body


@pytest.mark.parametrize("failure", [Reply.rate_limited(retry_after=0.2), Reply.overloaded(), Reply.server_error()])
def test_sdk_retries_transient_failures_then_succeeds(fake_anthropic, failure):
    fake_anthropic.script(HAIKU, failure, "recovered")
    assert provider(fake_anthropic, max_retries=2).complete(call()).text == "recovered"
    assert len(fake_anthropic.requests_for(HAIKU)) == 2


def test_retry_after_is_honoured(fake_anthropic):
    fake_anthropic.script(HAIKU, Reply.rate_limited(retry_after=0.5), "ok")
    reply = provider(fake_anthropic, max_retries=1).complete(call())
    first, second = fake_anthropic.requests_for(HAIKU)
    assert second.at - first.at >= 0.5 and reply.latency_ms >= 500


def test_overload_that_outlasts_the_retries_is_a_provider_error(fake_anthropic):
    fake_anthropic.script(HAIKU, Reply.overloaded(), Reply.overloaded())
    with pytest.raises(ProviderError) as raised:
        provider(fake_anthropic, max_retries=1).complete(call())
    assert raised.value.status == 529 and raised.value.retryable
    assert str(raised.value) == f"{HAIKU}: HTTP 529 overloaded_error: Overloaded (after 1 retries)"
    assert len(fake_anthropic.requests_for(HAIKU)) == 2


def test_a_client_error_is_not_retried(fake_anthropic):
    fake_anthropic.script(HAIKU, Reply.error(400, "max_tokens too large"))
    with pytest.raises(ProviderError) as raised:
        provider(fake_anthropic, max_retries=2).complete(call())
    assert (raised.value.status, raised.value.retryable) == (400, False)
    assert "max_tokens too large" in str(raised.value)
    assert len(fake_anthropic.requests_for(HAIKU)) == 1


def test_a_hang_past_the_timeout_is_retried_then_a_provider_error(fake_anthropic):
    fake_anthropic.script(HAIKU, Reply.hang(5), Reply.hang(5))
    started = time.monotonic()
    with pytest.raises(ProviderError, match="no answer within 0.3 s"):
        provider(fake_anthropic, timeout=0.3, max_retries=1).complete(call())
    assert len(fake_anthropic.requests_for(HAIKU)) == 2
    assert time.monotonic() - started < 3


def test_a_malformed_body_is_a_provider_error(fake_anthropic, sdk_provider):
    fake_anthropic.script(HAIKU, Reply.malformed())
    with pytest.raises(ProviderError, match="unreadable response"):
        sdk_provider.complete(call())


def test_an_unreachable_endpoint_is_a_provider_error():
    with pytest.raises(ProviderError, match="connection failed"):
        AnthropicProvider("k", "http://127.0.0.1:9", timeout=1, max_retries=0).complete(call())


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_connection_refused_before_sending_is_known_not_billed():
    with pytest.raises(ProviderError, match="connection failed") as raised:
        AnthropicProvider("k", f"http://127.0.0.1:{closed_port()}", timeout=1, max_retries=1).complete(call())
    assert raised.value.retryable and not raised.value.outcome_unknown


def test_a_connection_cut_after_the_request_went_out_may_have_been_billed():
    """The API read the request and the connection broke before any answer: it may have run the model."""
    received = []
    with socket.create_server(("127.0.0.1", 0)) as server:
        def cut_after_reading():
            for _ in range(2):  # the first try and the SDK's one retry
                conn, _ = server.accept()
                received.append(conn.recv(65536))
                conn.close()

        threading.Thread(target=cut_after_reading, daemon=True).start()
        with pytest.raises(ProviderError, match="connection failed") as raised:
            AnthropicProvider("k", f"http://127.0.0.1:{server.getsockname()[1]}", timeout=2,
                              max_retries=1).complete(call())
    assert raised.value.retryable and raised.value.outcome_unknown
    assert len(received) == 2 and all(request.startswith(b"POST /v1/messages ") for request in received)


# -- OpenAI-compatible -----------------------------------------------------------------------------

class FakeOpenAI:
    """The outside world for the OpenAI provider: a chat-completions endpoint with scripted answers."""

    def __init__(self, replies):
        self.replies, self.received = list(replies), []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                outer.received.append((self.path, dict(self.headers), body))
                status, payload, headers = outer.replies.pop(0)
                data = json.dumps(payload).encode()
                self.send_response(status)
                for name, value in {"content-type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def completion(text: str, prompt: int, completion_tokens: int, cached: int = 0):
    return (200, {"model": "llama3", "choices": [{"message": {"content": text}, "finish_reason": "stop"}],
                  "usage": {"prompt_tokens": prompt, "completion_tokens": completion_tokens,
                            "prompt_tokens_details": {"cached_tokens": cached}}}, {})


def test_openai_compatible_endpoint_with_cached_tokens_and_a_retried_429():
    fake = FakeOpenAI([(429, {"error": "slow down"}, {"Retry-After": "0"}), completion('{"a": 1}', 120, 8, cached=100)])
    try:
        reply = OpenAIProvider(fake.url, api_key="sk-test", timeout=2, max_retries=2).complete(call(json_output=True))
    finally:
        fake.close()
    assert reply.text == '{"a": 1}'
    assert reply.usage == Usage(input_tokens=20, output_tokens=8, cache_read_tokens=100)
    path, headers, body = fake.received[-1]
    assert path == "/v1/chat/completions" and len(fake.received) == 2
    assert headers["Authorization"] == "Bearer sk-test"
    assert body["messages"][0] == {"role": "system", "content": "You classify leads.\n\nAllowed labels: B2B, B2C"}
    assert body["response_format"] == {"type": "json_object"}


def test_openai_compatible_error_after_retries_is_a_provider_error():
    fake = FakeOpenAI([(500, {"error": "boom"}, {}), (500, {"error": "boom"}, {})])
    try:
        with pytest.raises(ProviderError) as raised:
            OpenAIProvider(fake.url, timeout=2, max_retries=1).complete(call())
    finally:
        fake.close()
    assert raised.value.status == 500 and len(fake.received) == 2


# -- dry run and the registry ------------------------------------------------------------------------

def test_dry_run_never_calls_out_and_states_decision_and_estimated_cost(fake_anthropic):
    policy = load_policy()
    reply = DryRunProvider(policy.prices).complete(call(tier="tier1", cached_system="", system="",
                                                        messages=[{"role": "user", "content": "x" * 400}],
                                                        expected_output_tokens=40))
    # 400 chars -> 100 input tokens; 40 output tokens; Haiku 1/5 per million: 0.0001 + 0.0002.
    assert reply.estimated_cost_usd == Decimal("0.0003")
    assert reply.text.startswith("DRY RUN: no model was called")
    assert "tier1 -> claude-haiku-4-5" in reply.text and "$0.000300" in reply.text
    assert reply.dry_run and reply.usage == Usage()
    assert fake_anthropic.requests == []


def test_registry_names_the_three_transports():
    assert PROVIDERS == {"anthropic": AnthropicProvider, "openai": OpenAIProvider, "dry_run": DryRunProvider}


def test_no_key_means_dry_run_for_anthropic_tiers_but_an_openai_tier_stays_real(tmp_path):
    text = default_policy_text().replace(
        "tier1: {model: claude-haiku-4-5, provider: anthropic, max_output_tokens: 1024}",
        "tier1: {model: claude-haiku-4-5, provider: local, max_output_tokens: 1024}",
    ) + "\nproviders:\n  local: {kind: openai, base_url: 'http://127.0.0.1:11434/v1'}\n"
    policy = parse_policy(text)
    dry = build_tier_providers(policy, load_settings(TIERGATE_DATA_DIR=tmp_path))
    assert isinstance(dry["tier1"], OpenAIProvider) and dry["tier1"].url == "http://127.0.0.1:11434/v1/chat/completions"
    assert isinstance(dry["tier2"], DryRunProvider) and dry["tier2"] is dry["tier3"]
    real = build_tier_providers(load_policy(), load_settings(TIERGATE_DATA_DIR=tmp_path, ANTHROPIC_API_KEY="sk-x",
                                                             ANTHROPIC_BASE_URL="http://127.0.0.1:1"))
    assert all(isinstance(p, AnthropicProvider) for p in real.values()) and real["tier1"] is real["tier3"]
    assert str(real["tier1"].client.base_url).startswith("http://127.0.0.1:1")


# -- circuit breaker --------------------------------------------------------------------------------

def test_the_circuit_opens_after_repeated_failures_for_every_process(redis_conn):
    web, worker = CircuitBreaker(redis_conn, failures=3, open_seconds=5), CircuitBreaker(redis_conn, failures=3, open_seconds=5)
    assert [web.record_failure(HAIKU), worker.record_failure(HAIKU)] == [False, False]
    assert worker.acquire(HAIKU) and worker.remaining(HAIKU) == 0
    assert web.record_failure(HAIKU) is True
    assert not worker.acquire(HAIKU) and 4 < worker.remaining(HAIKU) <= 5
    assert "circuit open" in worker.describe(HAIKU)


def test_a_success_resets_the_failure_count(redis_conn):
    breaker = CircuitBreaker(redis_conn, failures=2, open_seconds=30)
    breaker.record_failure(HAIKU)
    breaker.record_success(HAIKU)
    assert breaker.record_failure(HAIKU) is False and breaker.remaining(HAIKU) == 0


def test_half_open_lets_one_probe_through_and_a_failed_probe_opens_it_for_longer(redis_conn):
    web, worker = CircuitBreaker(redis_conn, failures=1, open_seconds=0.2), CircuitBreaker(redis_conn, failures=1, open_seconds=0.2)
    assert web.record_failure(HAIKU) is True
    time.sleep(0.3)
    assert [web.acquire(HAIKU), worker.acquire(HAIKU)] == [True, False]  # one probe, the other waits
    assert web.record_failure(HAIKU) is True  # the probe failed: open again, twice as long
    assert 0.2 < worker.remaining(HAIKU) <= 0.4
    time.sleep(0.45)
    assert worker.acquire(HAIKU)
    worker.record_success(HAIKU)  # the probe came back: closed for everyone
    assert web.acquire(HAIKU) and worker.acquire(HAIKU) and web.remaining(HAIKU) == 0


def test_without_redis_the_breaker_never_blocks_a_call():
    from redis import Redis

    breaker = CircuitBreaker(Redis(port=1, socket_connect_timeout=0.2), failures=1, open_seconds=30)
    assert breaker.record_failure(HAIKU) is False and breaker.acquire(HAIKU) and breaker.remaining(HAIKU) == 0


# -- Anthropic through geventhttpclient (app.providers.transport: gevent processes' whole-answer calls) --

def gevent_provider(url: str, timeout: float = 2.0, max_retries: int = 0) -> AnthropicProvider:
    """Forced here: the test process is not patched by gevent, so the default would be httpx2's own."""
    from app.providers.transport import client_on_gevent

    return AnthropicProvider("test-key", url, timeout=timeout, max_retries=max_retries,
                             http_client=client_on_gevent(timeout))


def test_through_geventhttpclient_the_answer_and_the_request_are_as_with_the_sdks_transport(fake_anthropic):
    fake_anthropic.script(HAIKU, Reply.tool_use("lookup", {"city": "Berlin"}, text="Checking."), "second")
    sdk = gevent_provider(fake_anthropic.url)
    reply = sdk.complete(call(json_output=True))
    assert reply.text == "Checking." and reply.stop_reason == "tool_use" and reply.content[1]["input"] == {"city": "Berlin"}
    assert sdk.complete(call()).text == "second"
    first, second = fake_anthropic.requests_for(HAIKU)
    assert first.system[0] == {"type": "text", "text": "You classify leads.", "cache_control": {"type": "ephemeral"}}
    assert first.body["max_tokens"] == 100 and first.messages == [{"role": "user", "content": "ACME GmbH, 40 seats"}]
    provider(fake_anthropic, timeout=2.0).complete(call(json_output=True))  # the SDK's own transport, for comparison
    assert first.body == fake_anthropic.requests_for(HAIKU)[2].body
    headers = fake_anthropic.requests_for(HAIKU)[2].headers
    assert first.headers == headers, set(first.headers.items()) ^ set(headers.items())
    transport = sdk.whole._client._transport
    assert len(transport._pools) == 1  # one pool for the host: the second call reused its connection


@pytest.mark.parametrize("failure", [Reply.rate_limited(retry_after=0.3), Reply.overloaded(), Reply.server_error()])
def test_through_geventhttpclient_transient_failures_are_retried_by_the_sdk(fake_anthropic, failure):
    fake_anthropic.script(HAIKU, failure, "recovered")
    started = time.monotonic()
    assert gevent_provider(fake_anthropic.url, max_retries=2).complete(call()).text == "recovered"
    assert len(fake_anthropic.requests_for(HAIKU)) == 2
    if failure.status == 429:  # retry-after honoured
        first, second = fake_anthropic.requests_for(HAIKU)
        assert second.at - first.at >= 0.3 and time.monotonic() - started >= 0.3


def test_through_geventhttpclient_statuses_and_bodies_are_provider_errors(fake_anthropic):
    fake_anthropic.script(HAIKU, Reply.overloaded(), Reply.overloaded(), Reply.error(400, "max_tokens too large"),
                          Reply.malformed())
    sdk = gevent_provider(fake_anthropic.url, max_retries=1)
    with pytest.raises(ProviderError) as raised:
        sdk.complete(call())
    assert str(raised.value) == f"{HAIKU}: HTTP 529 overloaded_error: Overloaded (after 1 retries)"
    with pytest.raises(ProviderError) as raised:
        sdk.complete(call())
    assert (raised.value.status, raised.value.retryable) == (400, False) and "max_tokens too large" in str(raised.value)
    with pytest.raises(ProviderError, match="unreadable response"):
        sdk.complete(call())
    assert len(fake_anthropic.requests_for(HAIKU)) == 4


def test_through_geventhttpclient_a_hang_is_a_timeout_and_a_shorter_deadline_still_applies(fake_anthropic):
    fake_anthropic.script(HAIKU, Reply.hang(5), Reply.hang(5))
    started = time.monotonic()
    with pytest.raises(ProviderError, match="no answer within 0.3 s") as raised:
        gevent_provider(fake_anthropic.url, timeout=0.3).complete(call())
    assert raised.value.outcome_unknown and time.monotonic() - started < 2
    # A call whose deadline is nearer than the provider's timeout: that timeout goes with the request.
    started = time.monotonic()
    with pytest.raises(ProviderError, match="no answer within 0.5 s"):
        gevent_provider(fake_anthropic.url, timeout=3).complete(call(deadline=time.monotonic() + 0.2))
    assert time.monotonic() - started < 2


def test_through_geventhttpclient_refused_is_not_billed_and_cut_after_sending_may_be():
    with pytest.raises(ProviderError, match="connection failed") as raised:
        gevent_provider(f"http://127.0.0.1:{closed_port()}", max_retries=1).complete(call())
    assert raised.value.retryable and not raised.value.outcome_unknown
    received = []
    with socket.create_server(("127.0.0.1", 0)) as server:
        def cut_after_reading():
            conn, _ = server.accept()
            received.append(conn.recv(65536))
            conn.close()

        threading.Thread(target=cut_after_reading, daemon=True).start()
        with pytest.raises(ProviderError, match="connection failed") as raised:
            gevent_provider(f"http://127.0.0.1:{server.getsockname()[1]}").complete(call())
    assert raised.value.retryable and raised.value.outcome_unknown
    assert received and received[0].startswith(b"POST /v1/messages ")


def test_through_geventhttpclient_a_gzipped_answer_is_read():
    """The SDK's client asks for gzip; the API may send it, and the answer is read decoded."""
    answer = gzip.compress(json.dumps({"id": "msg_1", "type": "message", "role": "assistant", "model": HAIKU,
                                       "content": [{"type": "text", "text": "zipped"}], "stop_reason": "end_turn",
                                       "usage": {"input_tokens": 3, "output_tokens": 1}}).encode())
    with socket.create_server(("127.0.0.1", 0)) as server:
        def answer_once():
            conn, _ = server.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\n"
                             b"content-length: %d\r\n\r\n%s" % (len(answer), answer))

        threading.Thread(target=answer_once, daemon=True).start()
        reply = gevent_provider(f"http://127.0.0.1:{server.getsockname()[1]}").complete(call())
    assert (reply.text, reply.usage.input_tokens, reply.usage.output_tokens) == ("zipped", 3, 1)


def test_through_geventhttpclient_an_untrusted_certificate_is_refused_before_sending():
    """HTTPS verifies the API's certificate: a self-signed one fails the handshake, so nothing was sent."""
    tls = Path(__file__).parent / "data" / "tls"  # a self-signed certificate for 127.0.0.1, made for this test
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls / "self_signed_cert.pem", tls / "self_signed_key.pem")
    received = []
    with socket.create_server(("127.0.0.1", 0)) as server:
        def handshake_once():
            conn, _ = server.accept()
            try:
                with context.wrap_socket(conn, server_side=True) as tls_conn:
                    received.append(tls_conn.recv(65536))
            except (ssl.SSLError, OSError):
                pass  # the client gave up in the handshake

        threading.Thread(target=handshake_once, daemon=True).start()
        with pytest.raises(ProviderError, match="CERTIFICATE_VERIFY_FAILED") as raised:
            gevent_provider(f"https://127.0.0.1:{server.getsockname()[1]}").complete(call())
    assert raised.value.retryable and not raised.value.outcome_unknown and received == []
