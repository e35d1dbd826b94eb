"""Server-sent events in the two formats the official SDKs parse.

Both kinds of stream go through one event shape — the provider events of ``Provider.stream``
(``text``, ``tool_start``, ``tool_args``) closed by ``{"type": "finish", "stop_reason", "usage"}`` — and
one encoder per client format:

* OpenAI: ``chat.completion.chunk`` objects as ``data:`` lines, the first delta carrying the role, the
  last one ``finish_reason``, then (with ``stream_options.include_usage``) a chunk with empty
  ``choices`` and the usage, then ``data: [DONE]``.
* Anthropic: ``message_start``, per content block ``content_block_start`` / ``..._delta`` /
  ``..._stop``, ``message_delta`` (stop reason, output tokens), ``message_stop``; each as an
  ``event:`` line plus its ``data:`` line.

``answer_events`` replays a finished answer (the default, gated streaming: see docs/gateway.md) as
small deltas; live streaming feeds the provider's own events straight through. A failure in the
middle of a live stream ends it with an error event, since its status line has gone out already.
"""
from __future__ import annotations

import json
import time
from typing import Any, Iterable, Iterator

from app.gateway import anthropic_format, openai_format
from app.gateway.chat import ChatAnswer
from app.pricing import Usage

TEXT_DELTA_CHARS = 48  # small deltas, as a model would send them
MEDIA_TYPE = "text/event-stream"


def _data(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n"


def _event(name: str, payload: dict[str, Any]) -> str:
    return f"event: {name}\n" + _data(payload)


def _pieces(text: str) -> list[str]:
    return [text[i:i + TEXT_DELTA_CHARS] for i in range(0, len(text), TEXT_DELTA_CHARS)]


def answer_events(answer: ChatAnswer) -> Iterator[dict[str, Any]]:
    """A finished answer as stream events."""
    for index, block in enumerate(answer.content):
        if block.get("type") == "tool_use":
            yield {"type": "tool_start", "index": index, "id": block["id"], "name": block["name"]}
            for piece in _pieces(json.dumps(block.get("input") or {})):
                yield {"type": "tool_args", "index": index, "json": piece}
        else:
            for piece in _pieces(block.get("text", "")):
                yield {"type": "text", "text": piece}
    yield {"type": "finish", "stop_reason": answer.stop_reason, "usage": answer.usage}


class StreamFailed(Exception):
    """Raised into an encoder's event source when a live stream breaks; carries the message."""


def openai_sse(events: Iterable[dict[str, Any]], answer_id: str, model: str, include_usage: bool) -> Iterator[str]:
    """OpenAI chunks for ``events``, ending with ``[DONE]``."""
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        body = {"id": answer_id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if include_usage:
            body["usage"] = None
        return _data(body)

    yield chunk({"role": "assistant", "content": "", "refusal": None})
    tools: dict[int, int] = {}  # provider block index -> OpenAI tool call index
    try:
        for event in events:
            kind = event["type"]
            if kind == "text":
                yield chunk({"content": event["text"]})
            elif kind == "tool_start":
                tools[event["index"]] = len(tools)
                yield chunk({"tool_calls": [{"index": tools[event["index"]], "id": event["id"], "type": "function",
                                             "function": {"name": event["name"], "arguments": ""}}]})
            elif kind == "tool_args":
                yield chunk({"tool_calls": [{"index": tools[event["index"]], "function": {"arguments": event["json"]}}]})
            elif kind == "finish":
                yield chunk({}, openai_format.FINISH_REASONS.get(event["stop_reason"], "stop"))
                if include_usage:
                    yield _data({"id": answer_id, "object": "chat.completion.chunk", "created": created,
                                 "model": model, "choices": [], "usage": openai_format.usage_json(event["usage"])})
    except StreamFailed as exc:
        yield _data({"error": {"message": str(exc), "type": "server_error", "param": None, "code": "upstream_error"}})
        return
    yield "data: [DONE]\n\n"


def anthropic_sse(events: Iterable[dict[str, Any]], answer_id: str, model: str,
                  input_usage: Usage | None = None) -> Iterator[str]:
    """Messages API events for ``events``, ``message_start`` to ``message_stop``."""
    start_usage = anthropic_format.usage_json(input_usage or Usage())
    yield _event("message_start", {"type": "message_start", "message": {
        "id": answer_id, "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": {**start_usage, "output_tokens": 1}}})
    yield _event("ping", {"type": "ping"})
    block: tuple[str, Any] | None = None  # (kind, provider index) of the open content block
    index = -1

    def close() -> Iterator[str]:
        if block is not None:
            yield _event("content_block_stop", {"type": "content_block_stop", "index": index})

    try:
        for event in events:
            kind = event["type"]
            if kind == "text":
                if block is None or block[0] != "text":
                    yield from close()
                    block, index = ("text", None), index + 1
                    yield _event("content_block_start", {"type": "content_block_start", "index": index,
                                                         "content_block": {"type": "text", "text": ""}})
                yield _event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                     "delta": {"type": "text_delta", "text": event["text"]}})
            elif kind == "tool_start":
                yield from close()
                block, index = ("tool", event["index"]), index + 1
                yield _event("content_block_start", {"type": "content_block_start", "index": index, "content_block": {
                    "type": "tool_use", "id": event["id"], "name": event["name"], "input": {}}})
            elif kind == "tool_args":
                yield _event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                     "delta": {"type": "input_json_delta", "partial_json": event["json"]}})
            elif kind == "finish":
                yield from close()
                block = None
                yield _event("message_delta", {"type": "message_delta",
                                               "delta": {"stop_reason": event["stop_reason"], "stop_sequence": None},
                                               # cumulative, as the API sends it: a live stream's
                                               # input and cache usage is known only here
                                               "usage": anthropic_format.usage_json(event["usage"])})
    except StreamFailed as exc:
        yield _event("error", {"type": "error", "error": {"type": "api_error", "message": str(exc)}})
        return
    yield _event("message_stop", {"type": "message_stop"})
