"""Chat behaviour shared by the fake model APIs: tool use, structured output, and the events of a stream.

Written from the providers' documentation, not from Tiergate's code, so the gateway tests compare our
translation with our reading of the real APIs:

* a request that offers tools and has no tool result yet is answered with a call of the first tool, its
  arguments filled from the tool's input schema (a string field gets the arithmetic expression found
  in the last user turn, else that turn's text); once a tool result is in, the model answers
  ``"The result is <result>."``;
* a request with a JSON Schema output format gets an object built from that schema;
* a stream is the Messages API event sequence (``message_start`` ... ``message_stop``) or OpenAI's
  ``chat.completion.chunk`` lines with ``[DONE]``.
"""
from __future__ import annotations

import json
import re
import uuid
from typing import Any

EXPRESSION = re.compile(r"\d[\d\s.+\-*/()^]*[\d)]")


def expression(text: str) -> str | None:
    found = [m.group(0).strip() for m in EXPRESSION.finditer(text) if re.search(r"[+\-*/^]", m.group(0))]
    return found[-1] if found else None


def arguments_for(schema: dict[str, Any], user_text: str) -> dict[str, Any]:
    """Arguments that satisfy a tool's input schema, taken from the user's words."""
    props = schema.get("properties") or {}
    required = schema.get("required") or list(props)[:1]
    args: dict[str, Any] = {}
    for name in required:
        kind = (props.get(name) or {}).get("type", "string")
        if kind in ("number", "integer"):
            numbers = re.findall(r"\d+", user_text)
            args[name] = int(numbers[0]) if numbers else 1
        elif kind == "boolean":
            args[name] = True
        else:
            args[name] = expression(user_text) or user_text.strip()[:200]
    return args


def instance_of(schema: dict[str, Any], text: str = "") -> Any:
    """A small JSON value that validates against ``schema`` (objects, arrays, enums, scalars)."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties") or {}
        return {name: instance_of(props[name], text) for name in (schema.get("required") or list(props)) if name in props}
    if kind == "array":
        return [instance_of(schema.get("items") or {"type": "string"}, text)] * max(1, schema.get("minItems", 1))
    if kind in ("number", "integer"):
        return max(1, schema.get("minimum", 1))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return (text.strip() or "fake")[:40]


def last_user_text(turns: list[tuple[str, str]]) -> str:
    return next((text for role, text in reversed(turns) if role == "user" and text), "")


def new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:24]}"


# -- Anthropic Messages ------------------------------------------------------------------------------
def anthropic_turns(body: dict[str, Any]) -> list[tuple[str, str]]:
    turns = []
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, str):
            turns.append((message["role"], content))
            continue
        for block in content or []:
            if block.get("type") == "text":
                turns.append((message["role"], block["text"]))
            elif block.get("type") == "tool_result":
                result = block.get("content")
                text = result if isinstance(result, str) else "".join(b.get("text", "") for b in result or [])
                turns.append(("tool", text))
    return turns


def anthropic_content(body: dict[str, Any]) -> tuple[list[dict[str, Any]], str] | None:
    """Tool-use or structured-output content for ``body``, with its stop reason; None for plain text."""
    turns = anthropic_turns(body)
    if turns and turns[-1][0] == "tool":
        return [{"type": "text", "text": f"The result is {turns[-1][1]}."}], "end_turn"
    tools = body.get("tools") or []
    choice = (body.get("tool_choice") or {}).get("type")
    if tools and choice != "none":
        tool = tools[0]
        use = {"type": "tool_use", "id": new_id("toolu_"), "name": tool["name"],
               "input": arguments_for(tool.get("input_schema") or {}, last_user_text(turns))}
        return [use], "tool_use"
    output = ((body.get("output_config") or {}).get("format") or {})
    if output.get("type") == "json_schema":
        return [{"type": "text", "text": json.dumps(instance_of(output["schema"], last_user_text(turns)))}], "end_turn"
    return None


def anthropic_events(message: dict[str, Any]) -> bytes:
    """The SSE body of a streamed Messages API answer, as the API documents the event order."""
    def event(name: str, data: dict[str, Any]) -> str:
        return f"event: {name}\ndata: {json.dumps(data)}\n\n"

    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None,
             "usage": {**message["usage"], "output_tokens": 1}}
    out = [event("message_start", {"type": "message_start", "message": start}), event("ping", {"type": "ping"})]
    for index, block in enumerate(message["content"]):
        if block["type"] == "tool_use":
            out.append(event("content_block_start", {"type": "content_block_start", "index": index,
                                                     "content_block": {**block, "input": {}}}))
            raw = json.dumps(block["input"])
            for i in range(0, len(raw), 10):
                out.append(event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                         "delta": {"type": "input_json_delta", "partial_json": raw[i:i + 10]}}))
        else:
            out.append(event("content_block_start", {"type": "content_block_start", "index": index,
                                                     "content_block": {"type": "text", "text": ""}}))
            for word in re.findall(r"\S+\s*", block["text"]):
                out.append(event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                         "delta": {"type": "text_delta", "text": word}}))
        out.append(event("content_block_stop", {"type": "content_block_stop", "index": index}))
    out.append(event("message_delta", {"type": "message_delta", "delta": {"stop_reason": message["stop_reason"],
                                                                         "stop_sequence": None},
                                       "usage": {"output_tokens": message["usage"]["output_tokens"]}}))
    out.append(event("message_stop", {"type": "message_stop"}))
    return "".join(out).encode()
