"""A local fake of the Anthropic Messages API that the real ``anthropic`` SDK talks to.

Tests point the SDK's ``base_url`` at it, so everything between Tiergate and the wire — request
building, retries with ``retry-after``, timeouts, usage parsing — is the SDK's real code. Only the
model is fake.

Replies are scripted per model (a queue each; see ``Reply``) and fall back to a responder callable
``(request json) -> Reply | str`` — by default ``sme_responder``, which answers Tiergate's recipe
prompts deterministically. Every request is recorded (model, system blocks with ``cache_control``,
messages, headers, arrival time) for assertions.

The default usage follows the real API's prompt caching, computed from the request's own markers:
the request is read as one sequence of blocks in the API's prefix order (tools, then system blocks,
then every message's content blocks), and each block carrying ``cache_control`` is a breakpoint (at
most four; a fifth is a 400, as the API answers). The prefix up to a breakpoint is cached, keyed by
its hash and the model, only when it reaches the model's minimum cacheable length
(``MIN_CACHE_TOKENS``; a shorter one is billed as plain input). A later request reads the longest
cached prefix it repeats, found at a breakpoint or up to 20 blocks before one, while that entry lives
(5 minutes, or an hour for ``"ttl": "1h"``; a read renews it; ``advance`` moves the fake's clock).
What lies between the read and the last cacheable breakpoint is written, split in ``cache_creation``
by TTL as the API documents it: up to the last 1-hour breakpoint ``ephemeral_1h_input_tokens``, the
rest ``ephemeral_5m_input_tokens``. ``input_tokens`` is what is left: it never includes cached tokens.
Tokens are counted over what the model reads: tool definitions, system text, message text, tool calls
and tool results.

Command line, for end-to-end runs with n8n, Make or a local ``tiergate up``::

    python -m tests.support.fake_anthropic --port 8765 [--responder module:function]
"""
from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import re
import threading
import time
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from tests.support import fake_chat
from tests.support.sme_responder import approx_tokens, flatten_text, sme_responder

Responder = Callable[[dict[str, Any]], "Reply | str"]

# The real API's minimum cacheable prefix per model (Anthropic's prompt-caching docs; Sonnet 4.6 is
# documented at 1,024 but observed to cache from 2,048). Unknown models: 1,024.
MIN_CACHE_TOKENS = {"claude-haiku-4-5": 4096, "claude-sonnet-4-6": 2048, "claude-opus-4-7": 2048}
DEFAULT_MIN_CACHE_TOKENS = 1024
MAX_BREAKPOINTS = 4  # blocks with cache_control in one request
LOOKBACK_BLOCKS = 20  # how far before a breakpoint the API looks for an earlier cache entry
TTL_SECONDS = {"5m": 300, "1h": 3600}

ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 429: "rate_limit_error",
               500: "api_error", 529: "overloaded_error"}


@dataclass
class Reply:
    """One scripted answer: a message, an HTTP error, a hang, or a broken body."""

    text: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_write_tokens: int | None = None
    cache_read_tokens: int | None = None
    stop_reason: str = "end_turn"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    hang_seconds: float = 0.0
    raw_body: bytes | None = None
    content_type: str = "application/json"
    content: list[dict[str, Any]] | None = None  # content blocks (tool_use) instead of ``text``
    cache_write_1h_tokens: int | None = None  # the part of cache_write_tokens written with the 1 h TTL

    @classmethod
    def ok(cls, text: str, input_tokens: int | None = None, output_tokens: int | None = None, *,
           cache_write_tokens: int | None = None, cache_read_tokens: int | None = None,
           stop_reason: str = "end_turn", cache_write_1h_tokens: int | None = None) -> "Reply":
        return cls(text, input_tokens, output_tokens, cache_write_tokens, cache_read_tokens, stop_reason,
                   cache_write_1h_tokens=cache_write_1h_tokens)

    @classmethod
    def error(cls, status: int, message: str = "scripted error", *, error_type: str | None = None,
              headers: dict[str, str] | None = None) -> "Reply":
        body = {"type": "error", "error": {"type": error_type or ERROR_TYPES.get(status, "api_error"),
                                           "message": message}}
        return cls(status=status, headers=headers or {}, raw_body=json.dumps(body).encode())

    @classmethod
    def rate_limited(cls, retry_after: float = 0) -> "Reply":
        return cls.error(429, "rate limited", headers={"retry-after": str(retry_after)})

    @classmethod
    def overloaded(cls) -> "Reply":
        return cls.error(529, "Overloaded", headers={"retry-after": "0"})

    @classmethod
    def server_error(cls) -> "Reply":
        return cls.error(500, "Internal server error", headers={"retry-after": "0"})

    @classmethod
    def hang(cls, seconds: float, text: str = "too late") -> "Reply":
        """Answer only after ``seconds`` — longer than the client's timeout, so the client gives up."""
        return cls(text=text, hang_seconds=seconds)

    @classmethod
    def tool_use(cls, name: str, tool_input: dict[str, Any], text: str = "") -> "Reply":
        """A call of tool ``name``, optionally after some text (stop reason ``tool_use``)."""
        blocks = ([{"type": "text", "text": text}] if text else []) + [
            {"type": "tool_use", "id": fake_chat.new_id("toolu_"), "name": name, "input": tool_input}]
        return cls(stop_reason="tool_use", content=blocks)

    @classmethod
    def malformed(cls) -> "Reply":
        return cls(raw_body=b'{"id": "msg_broken", "type": "message", "content": [')

    @classmethod
    def html_page(cls, status: int = 200) -> "Reply":
        """What a proxy or captive portal in front of the API answers: an HTML page, often with 200."""
        page = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>Proxy login required</body></html>"
        return cls(status=status, raw_body=page, content_type="text/html; charset=utf-8")


@dataclass
class RecordedRequest:
    path: str
    model: str | None
    system: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    headers: dict[str, str]
    body: dict[str, Any]
    at: float

    @property
    def cached_system(self) -> list[str]:
        return [block["text"] for block in self.system if block.get("cache_control")]

    @property
    def prefix_system(self) -> str:
        """The first system block: Tiergate's stable prefix, whether it was marked for caching or not."""
        return self.system[0]["text"] if self.system else ""

    @property
    def uncached_system(self) -> list[str]:
        return [block["text"] for block in self.system if not block.get("cache_control")]

    @property
    def user_text(self) -> str:
        return "\n".join(flatten_text(m.get("content")) for m in self.messages if m.get("role") == "user")


class FakeAnthropic:
    """The fake server. ``with FakeAnthropic() as fake: Anthropic(base_url=fake.url, ...)``."""

    def __init__(self, responder: Responder | None = None, host: str = "127.0.0.1", port: int = 0,
                 latency_seconds: float = 0.0):
        self.responder: Responder = responder or sme_responder
        # Every answer of /v1/messages waits this long, as a real model takes seconds to answer.
        self.latency_seconds = latency_seconds
        # Until this time.monotonic() every /v1/messages call gets ``outage_reply`` (a provider outage).
        self.outage_until = 0.0
        self.outage_reply: Reply | None = None
        self._scripts: dict[str, deque[Reply]] = defaultdict(deque)
        self._cache: dict[str, tuple[float, str]] = {}  # prefix hash -> (expires at, ttl)
        self._clock_offset = 0.0
        self._batches: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.requests: list[RecordedRequest] = []
        self._server = _Server((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeAnthropic":
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-anthropic", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes hanging handlers
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "FakeAnthropic":
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()

    # -- scripting and assertions ------------------------------------------------------------------
    def outage(self, seconds: float, reply: "Reply | None" = None) -> None:
        """Answer every call with ``reply`` (default: 529 overloaded) for the next ``seconds``."""
        self.outage_reply = reply or Reply.overloaded()
        self.outage_until = time.monotonic() + seconds

    def script(self, model: str, *replies: Reply | str) -> None:
        """Queue replies for ``model``; they are used in order before the responder is asked."""
        with self._lock:
            self._scripts[model].extend(Reply.ok(r) if isinstance(r, str) else r for r in replies)

    def advance(self, seconds: float) -> None:
        """Move the fake's clock forward: cache entries expire as if ``seconds`` had passed."""
        self._clock_offset += seconds

    def pending(self, model: str) -> int:
        return len(self._scripts[model])

    def requests_for(self, model: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.model == model]

    def reset(self) -> None:
        with self._lock:
            self._scripts.clear()
            self._cache.clear()
            self._clock_offset = 0.0
            self._batches.clear()
            self.requests.clear()

    # -- the API -----------------------------------------------------------------------------------
    def _next_reply(self, body: dict[str, Any]) -> Reply:
        model = body.get("model") or ""
        with self._lock:
            queue = self._scripts.get(model)
            if queue:
                return queue.popleft()
        chat = fake_chat.anthropic_content(body) if self.responder is sme_responder else None
        if chat is not None:  # tool use and structured output, as the API documents them
            return Reply(content=chat[0], stop_reason=chat[1])
        answer = self.responder(body)
        return Reply.ok(answer) if isinstance(answer, str) else answer

    def message(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        """The Messages API JSON for a successful ``reply``, with usage filled in where not scripted."""
        text = reply.text or "" if reply.content is None else json.dumps(reply.content)
        if reply.input_tokens is None:  # scripted usage means exactly what the test says
            total, read, write_5m, write_1h = self._cache_usage(body)
        else:
            total, read, write_5m, write_1h = reply.input_tokens, 0, 0, 0
        write = write_5m + write_1h
        write = reply.cache_write_tokens or write
        write_1h = reply.cache_write_1h_tokens if reply.cache_write_1h_tokens is not None else write_1h
        usage = {
            "input_tokens": total - read - write_5m - write_1h if reply.input_tokens is None else reply.input_tokens,
            "output_tokens": approx_tokens(text) if reply.output_tokens is None else reply.output_tokens,
            "cache_creation_input_tokens": write,
            "cache_read_input_tokens": reply.cache_read_tokens or read,
            "cache_creation": {"ephemeral_5m_input_tokens": write - write_1h, "ephemeral_1h_input_tokens": write_1h},
        }
        return {"id": f"msg_{uuid.uuid4().hex[:24]}", "type": "message", "role": "assistant",
                "model": body.get("model"), "content": reply.content or [{"type": "text", "text": text}],
                "stop_reason": reply.stop_reason, "stop_sequence": None, "usage": usage}

    def _cache_usage(self, body: dict[str, Any]) -> tuple[int, int, int, int]:
        """(all input tokens, cache read, 5-minute write, 1-hour write) of ``body``, from its markers.

        ``tokens(n)`` is the size of the first ``n`` blocks; ``hit`` the number of blocks read from the
        cache; entries are written at each cacheable breakpoint past the hit.
        """
        model = body.get("model") or ""
        blocks = prefix_blocks(body)
        texts = [block.text for block in blocks]

        def tokens(count: int) -> int:
            return approx_tokens("".join(texts[:count]))

        digest, keys = hashlib.sha256(model.encode()), []
        for block in blocks:
            digest.update(block.key.encode())
            keys.append(digest.copy().hexdigest())
        marks = [index for index, block in enumerate(blocks) if block.ttl]
        minimum = MIN_CACHE_TOKENS.get(model, DEFAULT_MIN_CACHE_TOKENS)
        now = time.monotonic() + self._clock_offset
        hit = end_1h = end = 0
        with self._lock:
            for mark in marks:
                for index in range(mark, max(-1, mark - LOOKBACK_BLOCKS - 1), -1):
                    entry = self._cache.get(keys[index])
                    if entry is not None and entry[0] > now:
                        hit = max(hit, index + 1)
                        break
            if hit:
                ttl = self._cache[keys[hit - 1]][1]
                self._cache[keys[hit - 1]] = (now + TTL_SECONDS[ttl], ttl)  # a read renews the entry
            end_1h = end = hit
            for mark in marks:
                if mark < hit or tokens(mark + 1) < minimum:
                    continue
                ttl = blocks[mark].ttl
                self._cache[keys[mark]] = (now + TTL_SECONDS[ttl], ttl)
                end = mark + 1
                end_1h = end if ttl == "1h" else end_1h
        read = tokens(hit)
        write_1h = tokens(end_1h) - read
        return tokens(len(blocks)), read, tokens(end) - tokens(end_1h), write_1h

    def create_batch(self, body: dict[str, Any]) -> dict[str, Any]:
        """Batches finish at once: every request is answered like a normal message (no hangs)."""
        batch_id = f"msgbatch_{uuid.uuid4().hex[:20]}"
        results, counts = [], {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        for item in body.get("requests", []):
            params = item.get("params", {})
            self._record("/v1/messages/batches", params, {})
            reply = self._next_reply(params)
            if reply.status == 200 and reply.raw_body is None:
                result = {"type": "succeeded", "message": self.message(params, reply)}
                counts["succeeded"] += 1
            else:
                error = json.loads(reply.raw_body) if reply.status != 200 else {"type": "error", "error": {
                    "type": "api_error", "message": "malformed"}}
                result = {"type": "errored", "error": error}
                counts["errored"] += 1
            results.append({"custom_id": item.get("custom_id"), "result": result})
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        batch = {"id": batch_id, "type": "message_batch", "processing_status": "ended", "request_counts": counts,
                 "created_at": now, "ended_at": now, "expires_at": now, "archived_at": None,
                 "cancel_initiated_at": None, "results_url": f"{self.url}/v1/messages/batches/{batch_id}/results"}
        with self._lock:
            self._batches[batch_id] = {"batch": batch, "results": results}
        return batch

    def _record(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> None:
        entry = RecordedRequest(path, body.get("model"), _system_blocks(body.get("system")),
                                list(body.get("messages", [])), headers, body, time.monotonic())
        with self._lock:
            self.requests.append(entry)


def _system_blocks(system: Any) -> list[dict[str, Any]]:
    if not system:
        return []
    if isinstance(system, str):
        return [{"type": "text", "text": system}]
    return [dict(block) for block in system]


@dataclass(frozen=True)
class PrefixBlock:
    """One block of a request in the cache's prefix order: what identifies it, what the model reads,
    and the TTL of its ``cache_control`` marker (None: no breakpoint here)."""

    key: str
    text: str
    ttl: str | None


def prefix_blocks(body: dict[str, Any]) -> list[PrefixBlock]:
    """Tools, system blocks, then every message's content blocks (a string content is one text block)."""
    blocks = []
    for tool in body.get("tools") or []:
        definition = json.dumps({k: v for k, v in tool.items() if k != "cache_control"}, sort_keys=True)
        blocks.append(PrefixBlock("tool:" + definition, definition, _ttl(tool)))
    for block in _system_blocks(body.get("system")):
        blocks.append(PrefixBlock("system:" + block.get("text", ""), block.get("text", ""), _ttl(block)))
    for message in body.get("messages", []):
        content = message.get("content")
        for block in [{"type": "text", "text": content}] if isinstance(content, str) else content or []:
            plain = {k: v for k, v in block.items() if k != "cache_control"}
            blocks.append(PrefixBlock(f"{message.get('role')}:" + json.dumps(plain, sort_keys=True),
                                      _read_text(block), _ttl(block)))
    return blocks


def cache_control_problem(body: dict[str, Any]) -> str | None:
    """What the API refuses in a request's markers (too many breakpoints, an unknown TTL), or None."""
    blocks = [(tool, f"tools.{i}") for i, tool in enumerate(body.get("tools") or [])]
    system = body.get("system")
    blocks += [(block, f"system.{i}") for i, block in enumerate(system if isinstance(system, list) else [])]
    for m, message in enumerate(body.get("messages", [])):
        content = message.get("content")
        blocks += [(block, f"messages.{m}.content.{i}") for i, block in enumerate(content if isinstance(content, list) else [])]
    marked = [(block["cache_control"], where) for block, where in blocks
              if isinstance(block, dict) and block.get("cache_control") is not None]
    if len(marked) > MAX_BREAKPOINTS:
        return f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. Found {len(marked)}."
    for marker, where in marked:
        if not isinstance(marker, dict) or marker.get("type") != "ephemeral" or marker.get("ttl", "5m") not in TTL_SECONDS:
            return f"{where}.cache_control: Input tag is invalid (expected type 'ephemeral', ttl '5m' or '1h')"
    return None


def _ttl(block: dict[str, Any]) -> str | None:
    marker = block.get("cache_control") if isinstance(block, dict) else None
    return marker.get("ttl", "5m") if isinstance(marker, dict) else None


def _read_text(block: dict[str, Any]) -> str:
    """What the model reads of a content block: text, a tool call's name and input, a tool result."""
    kind = block.get("type")
    if kind == "tool_use":
        return block.get("name", "") + json.dumps(block.get("input") or {}, sort_keys=True)
    if kind == "tool_result":
        return flatten_text(block.get("content"))
    return block.get("text", "")


BATCH_PATH = re.compile(r"^/v1/messages/batches/(?P<id>[\w-]+)(?P<results>/results)?$")


class _Server(ThreadingHTTPServer):
    # Hundreds of calls arrive at once in the concurrency tests; the default backlog of 5 would make
    # the kernel drop and re-send connections, adding seconds a real API does not.
    request_queue_size = 1024


def _handler_for(fake: FakeAnthropic) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; without TCP_NODELAY the body waits for the client's
        # delayed ACK (~40 ms), which would make the fake look slower than a real API.
        disable_nagle_algorithm = True

        def log_message(self, *_args) -> None:  # keep test output quiet
            pass

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None,
                  content_type: str = "application/json") -> None:
            try:
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(body)))
                self.send_header("request-id", f"req_fake_{uuid.uuid4().hex[:12]}")
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test); nothing to answer

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                return self._send(400, Reply.error(400, "body is not JSON").raw_body)
            headers = {name.lower(): value for name, value in self.headers.items()}
            path = self.path.split("?")[0]
            if path == "/v1/messages/batches":
                return self._send(200, json.dumps(fake.create_batch(body)).encode())
            if path != "/v1/messages":
                return self._send(404, Reply.error(404, f"no route {path}", error_type="not_found_error").raw_body)
            fake._record(path, body, headers)
            problem = cache_control_problem(body)
            if problem:
                return self._send(400, Reply.error(400, problem).raw_body)
            if fake.latency_seconds and fake._stopping.wait(fake.latency_seconds):
                return
            if fake.outage_reply is not None and time.monotonic() < fake.outage_until:
                reply = fake.outage_reply
                return self._send(reply.status, reply.raw_body or b"{}", reply.headers)
            reply = fake._next_reply(body)
            if reply.hang_seconds and fake._stopping.wait(reply.hang_seconds):
                return
            if reply.raw_body is not None:
                return self._send(reply.status, reply.raw_body, reply.headers, reply.content_type)
            if body.get("stream"):
                events = fake_chat.anthropic_events(fake.message(body, reply))
                return self._send(200, events, reply.headers, content_type="text/event-stream")
            self._send(200, json.dumps(fake.message(body, reply)).encode(), reply.headers)

        def do_GET(self) -> None:
            match = BATCH_PATH.match(self.path.split("?")[0])
            stored = fake._batches.get(match["id"]) if match else None
            if stored is None:
                return self._send(404, Reply.error(404, "no such batch", error_type="not_found_error").raw_body)
            if match["results"]:
                lines = "\n".join(json.dumps(result) for result in stored["results"]) + "\n"
                return self._send(200, lines.encode(), content_type="application/binary")
            self._send(200, json.dumps(stored["batch"]).encode())

    return Handler


def load_responder(spec: str) -> Responder:
    """``module:function`` -> the callable."""
    module_name, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module_name), attr or "responder")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake Anthropic Messages API for local end-to-end runs.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--responder", help="module:function answering (request json) -> text")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds every answer takes (a real model: 1-30)")
    args = parser.parse_args(argv)
    fake = FakeAnthropic(load_responder(args.responder) if args.responder else None, args.host, args.port,
                         latency_seconds=args.latency)
    print(f"fake Anthropic API on {fake.url} (set ANTHROPIC_BASE_URL={fake.url})", flush=True)
    try:
        fake._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        fake._server.server_close()


if __name__ == "__main__":
    main()
