"""OpenAI Responses API (``POST /v1/responses``), both ways: a client's body in, the ``response`` object,
its stream events and errors out.

Inbound, ``input`` (a string, or a list of items) becomes a ``ChatRequest``: ``message`` items of role
``user`` / ``assistant`` become turns, ``system`` / ``developer`` messages join ``instructions`` as the
system prompt, ``function_call`` items become ``tool_use`` blocks and ``function_call_output`` items
``tool_result`` blocks, keyed by ``call_id``. ``reasoning`` items (echoed back by some clients) carry
nothing Tiergate's models can use and are skipped. Function tools, ``tool_choice`` and
``text.format`` (``json_object`` / ``json_schema``) map to the gateway's tools and JSON gates.

Outbound, each text run of the answer is one ``message`` output item and each tool call one
``function_call`` item. A streamed answer is the documented event sequence: ``response.created``,
``response.in_progress``, per item ``response.output_item.added`` / ``content_part.added`` /
``output_text.delta`` ... ``output_text.done`` / ``content_part.done`` / ``output_item.done`` (or
``function_call_arguments.delta`` / ``.done`` for a tool call), then ``response.completed`` with the
whole response. There is no ``[DONE]`` line. A failure mid-stream ends it with ``response.failed``.
Errors use OpenAI's error shape (``openai_format.error_body``, chosen in ``app.api.gateway``).
"""
from __future__ import annotations

import json
import time
from typing import Any, Iterable, Iterator

from app.errors import BadRequest
from app.gateway import openai_format
from app.gateway.chat import MAX_TOKENS, ChatAnswer, ChatRequest, check_tool_schema
from app.gateway.streaming import StreamFailed
from app.pricing import Usage

RESPONSE_PREFIX = "resp_"
ROLES = ("user", "assistant", "system", "developer")
SKIPPED_ITEMS = frozenset({"reasoning"})
TEXT_DELTA_CHARS = 48


# -- inbound: a client's request -------------------------------------------------------------------
def parse_request(body: dict[str, Any]) -> ChatRequest:
    """Validate a Responses API body into a ``ChatRequest``; ``BadRequest`` names the field.

    The turns of ``previous_response_id`` are not here: ``app.gateway.conversations`` adds them.
    """
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise BadRequest("'model' is required: a Tiergate model name such as 'tiergate/auto'", "model")
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise BadRequest("'instructions' must be a string", "instructions")
    system_parts = [instructions] if instructions else []
    messages = _input(body.get("input"), system_parts)
    if not messages:
        raise BadRequest("'input' needs at least one user message or function_call_output", "input")
    json_output, json_schema = _text_format(body.get("text"))
    previous = body.get("previous_response_id")
    if previous is not None and (not isinstance(previous, str) or not previous.startswith(RESPONSE_PREFIX)):
        raise BadRequest(f"'previous_response_id' must be the id of an earlier response ({RESPONSE_PREFIX}...)",
                         "previous_response_id")
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise BadRequest("'metadata' must be an object", "metadata")
    return ChatRequest(
        model=model.strip(), messages=messages, system="\n\n".join(system_parts),
        max_tokens=openai_format._positive_int(body.get("max_output_tokens"), "max_output_tokens"),
        temperature=openai_format._number(body.get("temperature"), "temperature", 0, 2),
        top_p=openai_format._number(body.get("top_p"), "top_p", 0, 1), tools=_tools(body.get("tools")),
        tool_choice=_tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls")),
        json_output=json_output, json_schema=json_schema, stream=bool(body.get("stream")), include_usage=True,
        metadata=metadata or {},
    )


def append_turn(messages: list[dict[str, Any]], role: str, content: list[dict[str, Any]]) -> None:
    """Add a turn, merging it into the previous one of the same role (the providers want turns to alternate)."""
    if messages and messages[-1]["role"] == role:
        messages[-1] = {"role": role, "content": [*messages[-1]["content"], *content]}
    else:
        messages.append({"role": role, "content": list(content)})


def _input(value: Any, system_parts: list[str]) -> list[dict[str, Any]]:
    if value is None:
        return []
    if isinstance(value, str):
        if not value:
            raise BadRequest("'input' must not be empty", "input")
        return [{"role": "user", "content": [{"type": "text", "text": value}]}]
    if not isinstance(value, list):
        raise BadRequest("'input' must be a string or a list of input items", "input")
    messages: list[dict[str, Any]] = []
    for index, item in enumerate(value):
        where = f"input[{index}]"
        if not isinstance(item, dict):
            raise BadRequest(f"{where} must be an object (a message, function_call or function_call_output)", where)
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role not in ROLES:
                raise BadRequest(f"{where}.role must be one of {', '.join(ROLES)} (got {role!r})", f"{where}.role")
            if role in ("system", "developer"):
                system_parts.append(_text(item.get("content"), f"{where}.content"))
            elif role == "assistant":
                text = _text(item.get("content"), f"{where}.content")
                if text:
                    append_turn(messages, "assistant", [{"type": "text", "text": text}])
            else:
                append_turn(messages, "user", _user_content(item.get("content"), f"{where}.content"))
        elif kind == "function_call":
            for name in ("call_id", "name"):
                if not isinstance(item.get(name), str) or not item[name]:
                    raise BadRequest(f"{where}.{name} is required for a function_call item", f"{where}.{name}")
            try:
                arguments = json.loads(item.get("arguments") or "{}")
            except (TypeError, ValueError):
                raise BadRequest(f"{where}.arguments must be a JSON string", f"{where}.arguments") from None
            append_turn(messages, "assistant", [{"type": "tool_use", "id": item["call_id"], "name": item["name"],
                                                 "input": arguments}])
        elif kind == "function_call_output":
            if not isinstance(item.get("call_id"), str) or not item["call_id"]:
                raise BadRequest(f"{where}.call_id is required for a function_call_output item", f"{where}.call_id")
            output = item.get("output")
            text = output if isinstance(output, str) else _text(output, f"{where}.output")
            append_turn(messages, "user", [{"type": "tool_result", "tool_use_id": item["call_id"], "content": text}])
        elif kind in SKIPPED_ITEMS:
            continue
        else:
            raise BadRequest(f"{where}.type {kind!r} is not supported (message, function_call, "
                             "function_call_output)", f"{where}.type")
    return messages


def _text(content: Any, where: str) -> str:
    """Text of a content list made of ``input_text`` / ``output_text`` (or plain ``text``) parts."""
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        raise BadRequest(f"{where} must be a string or a list of content parts", where)
    texts = []
    for index, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") not in ("input_text", "output_text", "text") \
                or not isinstance(part.get("text"), str):
            if isinstance(part, dict) and part.get("type") == "refusal":
                continue
            raise BadRequest(f"{where}[{index}] must be a text part here (input_text or output_text)",
                             f"{where}[{index}]")
        texts.append(part["text"])
    return "\n".join(texts)


def _user_content(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list) or not content:
        raise BadRequest(f"{where} must be a string or a non-empty list of content parts", where)
    blocks = []
    for index, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "text") and isinstance(part.get("text"), str):
            blocks.append({"type": "text", "text": part["text"]})
        elif kind == "input_image":
            url = part.get("image_url")
            if not isinstance(url, str) or not url:
                raise BadRequest(f"{where}[{index}].image_url is required (file_id is not supported)",
                                 f"{where}[{index}].image_url")
            blocks.append(openai_format.image_block(url))
        else:
            raise BadRequest(f"{where}[{index}]: content part type {kind!r} is not supported (input_text, "
                             "input_image)", f"{where}[{index}].type")
    return blocks


def _tools(value: Any) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise BadRequest("'tools' must be a list", "tools")
    tools = []
    for index, tool in enumerate(value):
        where = f"tools[{index}]"
        if not isinstance(tool, dict) or tool.get("type") != "function":
            kind = tool.get("type") if isinstance(tool, dict) else None
            raise BadRequest(f"{where}.type: only function tools are supported (got type {kind!r})", f"{where}.type")
        schema = tool.get("parameters") or {"type": "object", "properties": {}}
        check_tool_schema(tool.get("name"), schema, where)
        tools.append({"name": tool["name"], "description": tool.get("description") or "", "input_schema": schema})
    return tools or None


def _tool_choice(value: Any, parallel: Any) -> dict[str, Any] | None:
    if value is None:
        choice = None
    elif value in ("none", "auto"):
        choice = {"type": value}
    elif value == "required":
        choice = {"type": "any"}
    elif isinstance(value, dict) and value.get("type") == "function" and isinstance(value.get("name"), str):
        choice = {"type": "tool", "name": value["name"]}
    else:
        raise BadRequest("'tool_choice' must be none, auto, required or {'type': 'function', 'name': ...}",
                         "tool_choice")
    if parallel is False and (choice or {}).get("type") != "none":
        choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
    return choice


def _text_format(value: Any) -> tuple[bool, dict[str, Any] | None]:
    if value is None:
        return False, None
    fmt = value.get("format") if isinstance(value, dict) else None
    if fmt is None:
        return False, None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return False, None
    if kind == "json_object":
        return True, None
    if kind == "json_schema":
        if not isinstance(fmt.get("schema"), dict):
            raise BadRequest("text.format.schema must be a JSON Schema object", "text.format.schema")
        check_tool_schema(fmt.get("name") or "response", fmt["schema"], "text.format")
        return True, fmt["schema"]
    raise BadRequest("text.format.type must be text, json_object or json_schema", "text.format.type")


# -- outbound: our answer --------------------------------------------------------------------------
def response_id(request_id: str) -> str:
    return RESPONSE_PREFIX + request_id


def request_id_of(response_id_: str) -> str:
    """The ledger id behind a response id (``resp_req_...`` -> ``req_...``)."""
    return response_id_.removeprefix(RESPONSE_PREFIX)


def echo(body: dict[str, Any]) -> dict[str, Any]:
    """The request fields a ``response`` object repeats back, in the API's shapes."""
    text = body.get("text") if isinstance(body.get("text"), dict) else {}
    return {"instructions": body.get("instructions"), "max_output_tokens": body.get("max_output_tokens"),
            "metadata": body.get("metadata") or {}, "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": body.get("previous_response_id"), "temperature": body.get("temperature"),
            "top_p": body.get("top_p"), "tool_choice": body.get("tool_choice") or "auto",
            "tools": body.get("tools") or [], "text": {"format": text.get("format") or {"type": "text"}},
            "store": True, "truncation": "disabled"}


def output_items(request_id: str, content: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Content blocks as output items: one ``message`` per run of text, one ``function_call`` per tool use."""
    items: list[dict[str, Any]] = []
    for block in content:
        if block.get("type") == "tool_use":
            items.append(function_call_item(request_id, len(items), block["id"], block["name"],
                                            json.dumps(block.get("input") or {})))
        elif block.get("type") == "text" and block.get("text"):
            if items and items[-1]["type"] == "message":
                items[-1]["content"][0]["text"] += block["text"]
            else:
                items.append(message_item(request_id, len(items), block["text"]))
    return items


def message_item(request_id: str, index: int, text: str, status: str = "completed") -> dict[str, Any]:
    content = [] if status == "in_progress" else [_text_part(text)]
    return {"id": f"msg_{request_id}_{index}", "type": "message", "role": "assistant", "status": status,
            "content": content}


def function_call_item(request_id: str, index: int, call_id: str, name: str, arguments: str,
                       status: str = "completed") -> dict[str, Any]:
    return {"id": f"fc_{request_id}_{index}", "type": "function_call", "call_id": call_id, "name": name,
            "arguments": arguments, "status": status}


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def usage_json(usage: Usage) -> dict[str, Any]:
    """Like Chat Completions, cached and cache-written tokens count inside ``input_tokens``."""
    total_input = usage.total_input_tokens
    return {"input_tokens": total_input,
            "input_tokens_details": {"cached_tokens": usage.cache_read_tokens,
                                     "cache_write_tokens": usage.cache_write_tokens},
            "output_tokens": usage.output_tokens, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": total_input + usage.output_tokens}


def response(request_id: str, model: str, echoed: dict[str, Any], *, content: list[dict[str, Any]] | None,
             stop_reason: str | None, usage: Usage | None, created_at: int | None = None,
             status: str | None = None, error: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``response`` object; ``content`` None means still running (the first stream events)."""
    if status is None:
        status = "in_progress" if content is None else ("incomplete" if stop_reason == MAX_TOKENS else "completed")
    return {"id": response_id(request_id), "object": "response", "created_at": created_at or int(time.time()),
            "status": status, "error": error,
            "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
            "model": model, "output": output_items(request_id, content or []), **echoed,
            "usage": usage_json(usage) if usage is not None else None}


def from_answer(request_id: str, answer: ChatAnswer, echoed: dict[str, Any]) -> dict[str, Any]:
    """The ``response`` object of a finished, non-streamed answer."""
    return response(request_id, answer.model, echoed, content=answer.content, stop_reason=answer.stop_reason,
                    usage=answer.usage)


# -- streaming -------------------------------------------------------------------------------------
def sse(events: Iterable[dict[str, Any]], request_id: str, model: str, echoed: dict[str, Any]) -> Iterator[str]:
    """Responses API stream events for the gateway's stream events (see ``app.gateway.streaming``)."""
    created = int(time.time())
    sequence = 0
    content: list[dict[str, Any]] = []  # the answer so far, as content blocks
    open_item: dict[str, Any] | None = None
    output_index = -1

    def emit(kind: str, **fields: Any) -> str:
        nonlocal sequence
        payload = {"type": kind, "sequence_number": sequence, **fields}
        sequence += 1
        return f"event: {kind}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n"

    def snapshot(status: str | None = None, **extra: Any) -> dict[str, Any]:
        return response(request_id, model, echoed, content=None, stop_reason=None, usage=None, created_at=created,
                        status=status, **extra)

    def close() -> Iterator[str]:
        nonlocal open_item
        if open_item is None:
            return
        item, open_item = open_item, None
        if item["type"] == "message":
            text = content[-1]["text"]
            where = {"item_id": item["id"], "output_index": output_index, "content_index": 0}
            yield emit("response.output_text.done", **where, text=text, logprobs=[])
            yield emit("response.content_part.done", **where, part=_text_part(text))
            yield emit("response.output_item.done", output_index=output_index,
                       item=message_item(request_id, output_index, text))
        else:
            block = content[-1]
            arguments = block["arguments"]
            yield emit("response.function_call_arguments.done", item_id=item["id"], output_index=output_index,
                       arguments=arguments)
            yield emit("response.output_item.done", output_index=output_index,
                       item=function_call_item(request_id, output_index, block["id"], block["name"], arguments))

    yield emit("response.created", response=snapshot())
    yield emit("response.in_progress", response=snapshot())
    try:
        for event in events:
            kind = event["type"]
            if kind == "text":
                if not event["text"]:
                    continue
                if open_item is None or open_item["type"] != "message":
                    yield from close()
                    output_index += 1
                    open_item = message_item(request_id, output_index, "", status="in_progress")
                    content.append({"type": "text", "text": ""})
                    yield emit("response.output_item.added", output_index=output_index, item=open_item)
                    yield emit("response.content_part.added", item_id=open_item["id"], output_index=output_index,
                               content_index=0, part=_text_part(""))
                for piece in _pieces(event["text"]):
                    content[-1]["text"] += piece
                    yield emit("response.output_text.delta", item_id=open_item["id"], output_index=output_index,
                               content_index=0, delta=piece, logprobs=[])
            elif kind == "tool_start":
                yield from close()
                output_index += 1
                open_item = function_call_item(request_id, output_index, event["id"], event["name"], "",
                                               status="in_progress")
                content.append({"type": "tool_use", "id": event["id"], "name": event["name"], "arguments": ""})
                yield emit("response.output_item.added", output_index=output_index, item=open_item)
            elif kind == "tool_args":
                content[-1]["arguments"] += event["json"]
                yield emit("response.function_call_arguments.delta", item_id=open_item["id"],
                           output_index=output_index, delta=event["json"])
            elif kind == "finish":
                yield from close()
                blocks = [block if block["type"] == "text" else
                          {"type": "tool_use", "id": block["id"], "name": block["name"],
                           "input": _arguments(block["arguments"])} for block in content]
                final = response(request_id, model, echoed, content=blocks, stop_reason=event["stop_reason"],
                                 usage=event["usage"], created_at=created)
                name = "response.incomplete" if final["status"] == "incomplete" else "response.completed"
                yield emit(name, response=final)
    except StreamFailed as exc:
        yield emit("response.failed", response=snapshot("failed", error={"code": "server_error", "message": str(exc)}))


def _arguments(text: str) -> Any:
    try:
        return json.loads(text or "{}")
    except ValueError:  # a live stream cut short inside the arguments: keep what the client saw as text
        return {"partial_arguments": text}


def _pieces(text: str) -> list[str]:
    return [text[i:i + TEXT_DELTA_CHARS] for i in range(0, len(text), TEXT_DELTA_CHARS)] or [text]


# The body ``parse_request`` reads, for /openapi.json.
REQUEST_SCHEMA = {
    "type": "object", "required": ["model", "input"],
    "properties": {
        "model": {"type": "string", "description": "tiergate/auto, tiergate/tier1..3 or a model of the policy"},
        "input": {"type": ["string", "array"]}, "instructions": {"type": ["string", "null"]},
        "previous_response_id": {"type": ["string", "null"]}, "max_output_tokens": {"type": "integer", "minimum": 1},
        "temperature": {"type": "number"}, "top_p": {"type": "number"}, "stream": {"type": "boolean"},
        "tools": {"type": "array"}, "tool_choice": {"type": ["string", "object"]},
        "parallel_tool_calls": {"type": "boolean"}, "text": {"type": "object"}, "metadata": {"type": "object"},
    },
}
