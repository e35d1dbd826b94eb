"""``MessagesCall`` (gevent processes' whole answers) behaves as the SDK's own ``post``: the same requests on
the wire, attempt by attempt, the same retries and waits, the same failures.

Each test runs on both paths against the fake Messages API: ``sdk`` is the SDK's client on its default
transport (what a process not patched by gevent uses), ``lean`` is ``MessagesCall`` on geventhttpclient
(forced: the test process is not patched by gevent).
"""
from __future__ import annotations

import email.utils
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app.errors import ProviderError
from app.providers import AnthropicProvider, ModelCall
from app.providers.transport import client_on_gevent
from tests.support.fake_anthropic import Reply

HAIKU = "claude-haiku-4-5"


def call(**overrides) -> ModelCall:
    return ModelCall(model=HAIKU, messages=[{"role": "user", "content": "ACME GmbH, 40 seats"}], max_tokens=100,
                     **overrides)


@pytest.fixture(params=["sdk", "lean"])
def make(request):
    """``make(url, timeout=, max_retries=)``: the provider on the path under test."""
    def build(url: str, timeout: float = 2.0, max_retries: int = 0) -> AnthropicProvider:
        http_client = client_on_gevent(timeout) if request.param == "lean" else None
        provider = AnthropicProvider("test-key", url, timeout=timeout, max_retries=max_retries, http_client=http_client)
        assert (provider.messages_call is not None) == (request.param == "lean")
        return provider

    return build


def gaps(fake) -> list[float]:
    arrivals = [sent.at for sent in fake.requests_for(HAIKU)]
    return [later - earlier for earlier, later in zip(arrivals, arrivals[1:])]


def test_each_attempt_goes_out_with_the_sdks_headers_and_its_retry_count(fake_anthropic, make):
    fake_anthropic.script(HAIKU, Reply.overloaded(), Reply.rate_limited(retry_after=0.1), "third time")
    assert make(fake_anthropic.url, max_retries=2).complete(call()).text == "third time"
    sent = fake_anthropic.requests_for(HAIKU)
    assert [attempt.headers["x-stainless-retry-count"] for attempt in sent] == ["0", "1", "2"]
    assert all(attempt.headers["x-stainless-timeout"] == attempt.headers["x-stainless-read-timeout"] == "2.0"
               for attempt in sent)
    assert len({attempt.body["messages"][0]["content"] for attempt in sent}) == 1


def test_both_paths_send_the_same_headers_attempt_by_attempt(fake_anthropic):
    fake_anthropic.script(HAIKU, Reply.server_error(), "ok", Reply.server_error(), "ok")
    AnthropicProvider("test-key", fake_anthropic.url, timeout=2.0, max_retries=1).complete(call())
    AnthropicProvider("test-key", fake_anthropic.url, timeout=2.0, max_retries=1,
                      http_client=client_on_gevent(2.0)).complete(call())
    sdk, lean = fake_anthropic.requests_for(HAIKU)[:2], fake_anthropic.requests_for(HAIKU)[2:]
    for theirs, ours in zip(sdk, lean):
        assert ours.headers == theirs.headers, set(ours.headers.items()) ^ set(theirs.headers.items())
        assert ours.body == theirs.body


def read_request(conn: socket.socket) -> bytes:
    """One whole request as it came (the SDK's transport writes head and body apart)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += conn.recv(65536)
    return data[:len(head) + 4] + body


def test_the_request_on_the_wire_is_the_sdks_byte_for_byte():
    """Header order, casing and values, body: what a raw socket reads of each attempt, on both paths."""
    received = []
    with socket.create_server(("127.0.0.1", 0)) as server:
        def cut_after_reading():
            for _ in range(4):
                conn, _ = server.accept()
                received.append(read_request(conn))
                conn.close()

        threading.Thread(target=cut_after_reading, daemon=True).start()
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        for http_client in (None, client_on_gevent(2.0)):
            with pytest.raises(ProviderError, match="connection failed"):
                AnthropicProvider("test-key", url, timeout=2.0, max_retries=1,
                                  http_client=http_client).complete(call(system="Be brief."))
    sdk, lean = received[:2], received[2:]
    assert lean == sdk and b"x-stainless-retry-count: 1\r\n" in lean[1]


def test_retry_after_ms_wins_over_retry_after(fake_anthropic, make):
    fake_anthropic.script(HAIKU, Reply.error(429, headers={"retry-after-ms": "400", "retry-after": "30"}), "ok")
    provider = make(fake_anthropic.url, max_retries=1)
    started = time.monotonic()
    assert provider.complete(call()).text == "ok"
    assert 0.4 <= gaps(fake_anthropic)[0] < 2 and time.monotonic() - started < 3


def test_retry_after_as_an_http_date_is_honoured(fake_anthropic, make):
    provider = make(fake_anthropic.url, max_retries=1)
    when = email.utils.formatdate(time.time() + 3, usegmt=True)  # whole seconds: a wait of 2 to 3 s
    fake_anthropic.script(HAIKU, Reply.error(503, headers={"retry-after": when}), "ok")
    assert provider.complete(call()).text == "ok"
    assert 1.5 <= gaps(fake_anthropic)[0] < 4  # not the backoff's 0.5 s


def test_without_retry_after_the_wait_is_the_sdks_backoff_and_the_last_500_is_the_failure(fake_anthropic, make):
    fake_anthropic.script(HAIKU, *[Reply.error(500, "Internal server error")] * 3)
    with pytest.raises(ProviderError) as raised:
        make(fake_anthropic.url, max_retries=2).complete(call())
    assert (raised.value.status, raised.value.retryable, raised.value.outcome_unknown) == (500, True, False)
    assert str(raised.value) == f"{HAIKU}: HTTP 500 api_error: Internal server error (after 2 retries)"
    first, second = gaps(fake_anthropic)  # 0.5 s then 1 s, each less up to a quarter of jitter
    assert 0.37 <= first < 0.5 + 0.3 and 0.74 <= second < 1.0 + 0.3


def test_x_should_retry_overrides_the_status(fake_anthropic, make):
    fake_anthropic.script(HAIKU, Reply.error(400, "try again", headers={"x-should-retry": "true"}), "ok",
                          Reply.error(529, "Overloaded", headers={"x-should-retry": "false"}), "never asked")
    provider = make(fake_anthropic.url, max_retries=2)
    assert provider.complete(call()).text == "ok"
    with pytest.raises(ProviderError) as raised:
        provider.complete(call())
    assert raised.value.status == 529 and "Overloaded" in str(raised.value)
    assert len(fake_anthropic.requests_for(HAIKU)) == 3 and fake_anthropic.pending(HAIKU) == 1


def test_a_client_error_is_not_retried_and_keeps_the_apis_message(fake_anthropic, make):
    fake_anthropic.script(HAIKU, Reply.error(400, "max_tokens too large"), "never asked")
    with pytest.raises(ProviderError) as raised:
        make(fake_anthropic.url, max_retries=2).complete(call())
    assert str(raised.value) == f"{HAIKU}: HTTP 400 invalid_request_error: max_tokens too large"
    assert (raised.value.status, raised.value.retryable) == (400, False)
    assert len(fake_anthropic.requests_for(HAIKU)) == 1


def test_a_hang_is_retried_then_an_outcome_unknown_timeout(fake_anthropic, make):
    fake_anthropic.script(HAIKU, Reply.hang(5), Reply.hang(5), "never asked")
    provider = make(fake_anthropic.url, timeout=0.3, max_retries=1)
    started = time.monotonic()
    with pytest.raises(ProviderError) as raised:
        provider.complete(call())
    assert str(raised.value) == f"{HAIKU}: no answer within 0.3 s (after 1 retries)"
    assert raised.value.retryable and raised.value.outcome_unknown
    assert len(fake_anthropic.requests_for(HAIKU)) == 2 and time.monotonic() - started < 3


def test_the_deadline_budget_sends_one_try_with_the_shorter_timeout(fake_anthropic, make):
    fake_anthropic.script(HAIKU, Reply.hang(5), "never asked")
    with pytest.raises(ProviderError, match="no answer within 0.5 s"):
        make(fake_anthropic.url, timeout=3, max_retries=2).complete(call(deadline=time.monotonic() + 0.2))
    (sent,) = fake_anthropic.requests_for(HAIKU)
    assert sent.headers["x-stainless-timeout"] == "0.5" and sent.headers["x-stainless-retry-count"] == "0"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_refused_connection_is_retried_after_a_backoff_and_known_not_billed(make):
    provider = make(f"http://127.0.0.1:{closed_port()}", max_retries=1)
    started = time.monotonic()
    with pytest.raises(ProviderError) as raised:
        provider.complete(call())
    assert str(raised.value).startswith(f"{HAIKU}: connection failed (Connection to 127.0.0.1:")
    assert str(raised.value).endswith(") after 1 retries")
    assert raised.value.retryable and not raised.value.outcome_unknown
    assert time.monotonic() - started >= 0.37  # one backoff: the retry happened


def test_a_connection_cut_after_sending_is_retried_and_may_have_been_billed(make):
    received = []
    with socket.create_server(("127.0.0.1", 0)) as server:
        def cut_after_reading():
            for _ in range(2):
                conn, _ = server.accept()
                received.append(conn.recv(65536))
                conn.close()

        threading.Thread(target=cut_after_reading, daemon=True).start()
        with pytest.raises(ProviderError, match="connection failed") as raised:
            make(f"http://127.0.0.1:{server.getsockname()[1]}", max_retries=1).complete(call())
    assert raised.value.retryable and raised.value.outcome_unknown
    assert [request.split(b"\r\n", 1)[0] for request in received] == [b"POST /v1/messages HTTP/1.1"] * 2
    assert [b"x-stainless-retry-count: %d" % n in request for n, request in enumerate(received)] == [True, True]


class Redirect:
    """A proxy in front of the API that answers every POST with a 307 to ``target``."""

    def __init__(self, target: str):
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers["content-length"]))
                outer.hits += 1
                self.send_response(307)
                self.send_header("location", target + self.path)
                self.send_header("content-length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_a_redirect_is_followed_as_the_sdk_follows_it(fake_anthropic, make):
    fake_anthropic.script(HAIKU, "moved")
    proxy = Redirect(fake_anthropic.url)
    try:
        assert make(proxy.url).complete(call()).text == "moved"
    finally:
        proxy.close()
    assert proxy.hits >= 1 and len(fake_anthropic.requests_for(HAIKU)) == 1
