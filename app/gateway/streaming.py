"""Server-sent events in the two formats the official SDKs parse, from a finished ``ChatAnswer``.

Why a finished answer: a streamed answer cannot be taken back, so Tiergate streams only the answer the
cascade kept. The cheap tier's answer is buffered, gated, retried or escalated like any other call, and
the kept one is sent as a stream (text in small deltas, tool calls as their arguments). The decision
headers (tier, model, cost, review) therefore travel with the stream as with a plain answer.

* OpenAI: ``chat.completion.chunk`` objects as ``data:`` lines, the first delta carrying the role, the
  last one ``finish_reason``, then (with ``stream_options.include_usage``) a chunk with empty
  ``choices`` and the usage, then ``data: [DONE]``.
* Anthropic: ``message_start``, per content block ``content_block_start`` / ``..._delta`` /
  ``..._stop``, ``message_delta`` (stop reason, output tokens), ``message_stop``; each as an
  ``event:`` line plus its ``data:`` line.
"""
from __future__ import annotations

import json
import time
from typing import Any, Iterator

from app.gateway import anthropic_format, openai_format
from app.gateway.chat import ChatAnswer

TEXT_DELTA_CHARS = 48  # small deltas, as a model would send them
MEDIA_TYPE = "text/event-stream"


def _data(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n"


def _event(name: str, payload: dict[str, Any]) -> str:
    return f"event: {name}\n" + _data(payload)


def _pieces(text: str) -> list[str]:
    return [text[i:i + TEXT_DELTA_CHARS] for i in range(0, len(text), TEXT_DELTA_CHARS)]


def openai_events(answer: ChatAnswer, include_usage: bool) -> Iterator[str]:
    """The chunks of an OpenAI stream, ending with ``[DONE]``."""
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        body = {"id": answer.id, "object": "chat.completion.chunk", "created": created, "model": answer.model,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if include_usage:
            body["usage"] = None
        return _data(body)

    yield chunk({"role": "assistant", "content": "", "refusal": None})
    for piece in _pieces(answer.text):
        yield chunk({"content": piece})
    for index, call in enumerate(openai_format.tool_calls(answer.content)):
        yield chunk({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                                     "function": {"name": call["function"]["name"], "arguments": ""}}]})
        for piece in _pieces(call["function"]["arguments"]):
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    yield chunk({}, openai_format.FINISH_REASONS.get(answer.stop_reason, "stop"))
    if include_usage:
        yield _data({"id": answer.id, "object": "chat.completion.chunk", "created": created, "model": answer.model,
                     "choices": [], "usage": openai_format.usage_json(answer.usage)})
    yield "data: [DONE]\n\n"


def anthropic_events(answer: ChatAnswer) -> Iterator[str]:
    """The events of a Messages API stream, ``message_start`` to ``message_stop``."""
    usage = anthropic_format.usage_json(answer.usage)
    start = {**anthropic_format.message(answer), "content": [], "stop_reason": None,
             "usage": {**usage, "output_tokens": 1}}
    yield _event("message_start", {"type": "message_start", "message": start})
    yield _event("ping", {"type": "ping"})
    for index, block in enumerate(answer.content):
        if block.get("type") == "tool_use":
            opening = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            deltas = [{"type": "input_json_delta", "partial_json": piece}
                      for piece in _pieces(json.dumps(block.get("input") or {}))]
        else:
            opening = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": piece} for piece in _pieces(block.get("text", ""))]
        yield _event("content_block_start", {"type": "content_block_start", "index": index, "content_block": opening})
        for delta in deltas:
            yield _event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
        yield _event("content_block_stop", {"type": "content_block_stop", "index": index})
    yield _event("message_delta", {"type": "message_delta",
                                   "delta": {"stop_reason": answer.stop_reason, "stop_sequence": None},
                                   "usage": {"output_tokens": answer.usage.output_tokens}})
    yield _event("message_stop", {"type": "message_stop"})
