"""A local fake of an OpenAI-compatible Chat Completions API (OpenAI, vLLM, Ollama, OpenRouter).

Tiergate's ``OpenAIProvider`` (and, in the benchmark, the official ``openai`` SDK) talk to it over HTTP.
It answers like the real API: ``chat.completion`` objects with ``usage`` (cached tokens under
``prompt_tokens_details``), ``tool_calls`` with JSON-string arguments, ``response_format`` honoured,
``stream: true`` as ``chat.completion.chunk`` lines ending in ``data: [DONE]`` (usage in a last chunk
with empty ``choices`` when ``stream_options.include_usage``), errors as ``{"error": {...}}``.
Tool and JSON behaviour follow ``tests.support.fake_chat``; replies may be scripted per model.

    python -m tests.support.fake_openai --port 8766
"""
from __future__ import annotations

import argparse
import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support import fake_chat
from tests.support.sme_responder import approx_tokens


@dataclass
class Scripted:
    """A scripted answer: an HTTP error status (with ``retry-after: 0``) or a text."""

    status: int = 200
    text: str = ""


def _turns(body: dict[str, Any]) -> list[tuple[str, str]]:
    turns = []
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, list):
            content = "".join(part.get("text", "") for part in content if part.get("type") == "text")
        turns.append((message.get("role", ""), content or ""))
    return turns


def answer_message(body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The assistant message and finish reason for a request body."""
    turns = _turns(body)
    if turns and turns[-1][0] == "tool":
        return {"role": "assistant", "content": f"The result is {turns[-1][1]}."}, "stop"
    tools = body.get("tools") or []
    if tools and body.get("tool_choice") != "none":
        function = tools[0]["function"]
        call = {"id": fake_chat.new_id("call_"), "type": "function",
                "function": {"name": function["name"],
                             "arguments": json.dumps(fake_chat.arguments_for(function.get("parameters") or {},
                                                                             fake_chat.last_user_text(turns)))}}
        return {"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls"
    response_format = body.get("response_format") or {}
    user = fake_chat.last_user_text(turns)
    if response_format.get("type") == "json_schema":
        schema = response_format["json_schema"]["schema"]
        return {"role": "assistant", "content": json.dumps(fake_chat.instance_of(schema, user))}, "stop"
    if response_format.get("type") == "json_object":
        return {"role": "assistant", "content": json.dumps({"answer": user[:100]})}, "stop"
    return {"role": "assistant", "content": "Fake OpenAI answer: " + user.strip()[:200]}, "stop"


class FakeOpenAI:
    """``with FakeOpenAI() as fake: OpenAI(base_url=fake.url + "/v1")``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.requests: list[dict[str, Any]] = []
        self._scripts: dict[str, deque[Scripted]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._server.block_on_close = False

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeOpenAI":
        threading.Thread(target=self._server.serve_forever, name="fake-openai", daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "FakeOpenAI":
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()

    def script(self, model: str, *replies: Scripted) -> None:
        with self._lock:
            self._scripts[model].extend(replies)

    def requests_for(self, model: str) -> list[dict[str, Any]]:
        return [body for body in self.requests if body.get("model") == model]

    def completion(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append(body)
            queue = self._scripts.get(body.get("model") or "")
            scripted = queue.popleft() if queue else None
        if scripted is not None and scripted.status != 200:
            return scripted.status, {"error": {"message": "scripted error", "type": "server_error", "param": None,
                                               "code": None}}
        message, finish = answer_message(body)
        if scripted is not None:
            message, finish = {"role": "assistant", "content": scripted.text}, "stop"
        prompt = approx_tokens(json.dumps(body.get("messages", [])))
        completion_tokens = approx_tokens(json.dumps(message))
        return 200, {"id": fake_chat.new_id("chatcmpl-"), "object": "chat.completion", "created": int(time.time()),
                     "model": body.get("model"),
                     "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
                     "usage": {"prompt_tokens": prompt, "completion_tokens": completion_tokens,
                               "total_tokens": prompt + completion_tokens,
                               "prompt_tokens_details": {"cached_tokens": 0}}}


def stream_body(completion: dict[str, Any], include_usage: bool) -> bytes:
    """A completion as the chunks of a stream."""
    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        data = {"id": completion["id"], "object": "chat.completion.chunk", "created": completion["created"],
                "model": completion["model"], "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        if include_usage:
            data["usage"] = None
        return f"data: {json.dumps(data)}\n\n"

    choice = completion["choices"][0]
    message = choice["message"]
    out = [chunk({"role": "assistant", "content": ""})]
    words = (message.get("content") or "").split(" ")
    for index, word in enumerate(words if message.get("content") else []):
        out.append(chunk({"content": word + (" " if index < len(words) - 1 else "")}))
    for index, call in enumerate(message.get("tool_calls") or []):
        out.append(chunk({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                                          "function": {"name": call["function"]["name"], "arguments": ""}}]}))
        out.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": call["function"]["arguments"]}}]}))
    out.append(chunk({}, choice["finish_reason"]))
    if include_usage:
        out.append("data: " + json.dumps({"id": completion["id"], "object": "chat.completion.chunk",
                                          "created": completion["created"], "model": completion["model"],
                                          "choices": [], "usage": completion["usage"]}) + "\n\n")
    out.append("data: [DONE]\n\n")
    return "".join(out).encode()


def _handler_for(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *_args) -> None:
            pass

        def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            try:
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(body)))
                if status >= 429:
                    self.send_header("retry-after", "0")
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                return self._send(400, b'{"error": {"message": "body is not JSON", "type": "invalid_request_error"}}')
            if self.path.split("?")[0] not in ("/v1/chat/completions", "/chat/completions"):
                return self._send(404, b'{"error": {"message": "no such route", "type": "invalid_request_error"}}')
            status, data = fake.completion(body)
            if status == 200 and body.get("stream"):
                include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
                return self._send(200, stream_body(data, include_usage), "text/event-stream")
            self._send(status, json.dumps(data).encode())

        def do_GET(self) -> None:
            self._send(200, json.dumps({"object": "list", "data": []}).encode())

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake OpenAI-compatible Chat Completions API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args(argv)
    fake = FakeOpenAI(args.host, args.port)
    print(f"fake OpenAI API on {fake.url}/v1", flush=True)
    try:
        fake._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        fake._server.server_close()


if __name__ == "__main__":
    main()
