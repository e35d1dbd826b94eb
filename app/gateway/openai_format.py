"""OpenAI Chat Completions as a client speaks it: requests in, answers and errors out. What Tiergate
sends to an OpenAI-compatible provider is the providers' (``app.providers.openai_wire``).

Inbound, an OpenAI request becomes a ``ChatRequest`` (Anthropic-shaped messages): ``system`` and
``developer`` messages join the system prompt, ``tool`` messages become ``tool_result`` blocks,
``tool_calls`` become ``tool_use`` blocks, ``image_url`` parts become ``image`` blocks (a ``data:``
URL as base64, any other URL passed by reference). Outbound to a provider it is the reverse.
"""
from __future__ import annotations

import json
import re
import time
from typing import Any

from app.errors import ApiError, BadRequest
from app.gateway.chat import (END_TURN, MAX_TOKENS, STOP_SEQUENCE, TOOL_USE, ChatAnswer, ChatRequest,
                              check_tool_schema)
from app.pricing import Usage
from app.providers.openai_wire import STOP_REASONS, provider_messages, reply_content, tool_calls  # noqa: F401

FINISH_REASONS = {END_TURN: "stop", STOP_SEQUENCE: "stop", MAX_TOKENS: "length", TOOL_USE: "tool_calls",
                  "refusal": "content_filter"}
DATA_URL = re.compile(r"^data:(?P<media>[\w.+-]+/[\w.+-]+);base64,(?P<data>.+)$", re.DOTALL)
MAX_STOP_SEQUENCES = 4
ERROR_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 402: "insufficient_quota",
               403: "permission_error",
               404: "invalid_request_error", 409: "invalid_request_error", 413: "invalid_request_error",
               422: "invalid_request_error", 429: "rate_limit_error"}


# -- inbound: a client's request -------------------------------------------------------------------
def parse_request(body: dict[str, Any]) -> ChatRequest:
    """Validate a Chat Completions body into a ``ChatRequest``; ``BadRequest`` names the parameter."""
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise BadRequest("'model' is required: a Tiergate model name such as 'tiergate/auto'", "model")
    n = body.get("n")
    if n is not None and n != 1:
        raise BadRequest(f"n={n} is not supported: Tiergate returns exactly one choice; send n=1 or leave it out",
                         "n", code="unsupported_value")
    if body.get("functions") or body.get("function_call"):
        raise BadRequest("the legacy 'functions' parameter is not supported; send 'tools'", "functions",
                         code="unsupported_parameter")
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise BadRequest("'messages' must be a non-empty list of messages", "messages")
    system_parts: list[str] = []
    messages: list[dict[str, Any]] = []
    for index, message in enumerate(raw_messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise BadRequest(f"{where} must be an object with 'role' and 'content'", where)
        role = message.get("role")
        if role in ("system", "developer"):
            system_parts.append(_text_only(message.get("content"), f"{where}.content"))
        elif role == "user":
            _append(messages, "user", _user_content(message.get("content"), f"{where}.content"))
        elif role == "assistant":
            _append(messages, "assistant", _assistant_content(message, where))
        elif role == "tool":
            if not isinstance(message.get("tool_call_id"), str):
                raise BadRequest(f"{where}.tool_call_id is required for a tool message", f"{where}.tool_call_id")
            result = {"type": "tool_result", "tool_use_id": message["tool_call_id"],
                      "content": _text_only(message.get("content"), f"{where}.content")}
            _append(messages, "user", [result])
        else:
            raise BadRequest(f"{where}.role must be one of system, developer, user, assistant, tool (got {role!r})",
                             f"{where}.role")
    if not messages:
        raise BadRequest("'messages' needs at least one user message", "messages")
    response_format = body.get("response_format") or {"type": "text"}
    json_output, json_schema = _response_format(response_format)
    stream_options = body.get("stream_options") or {}
    return ChatRequest(
        model=model.strip(), messages=messages, system="\n\n".join(part for part in system_parts if part),
        max_tokens=_positive_int(body.get("max_completion_tokens", body.get("max_tokens")), "max_completion_tokens"),
        temperature=_number(body.get("temperature"), "temperature", 0, 2), top_p=_number(body.get("top_p"), "top_p", 0, 1),
        stop=_stop(body.get("stop")), tools=_tools(body.get("tools")),
        tool_choice=_tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls")),
        json_output=json_output, json_schema=json_schema, stream=bool(body.get("stream")),
        include_usage=bool(isinstance(stream_options, dict) and stream_options.get("include_usage")),
        metadata=body.get("metadata") if isinstance(body.get("metadata"), dict) else {},
    )


def _append(messages: list[dict[str, Any]], role: str, content: list[dict[str, Any]]) -> None:
    """Add a turn, merging it into the previous one of the same role (tool results after each other)."""
    if messages and messages[-1]["role"] == role:
        messages[-1]["content"].extend(content)
    else:
        messages.append({"role": role, "content": content})


def _text_only(content: Any, where: str) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for index, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise BadRequest(f"{where}[{index}] must be a text part here", f"{where}[{index}]")
            texts.append(part["text"])
        return "\n".join(texts)
    raise BadRequest(f"{where} must be a string or a list of content parts", where)


def _user_content(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list) or not content:
        raise BadRequest(f"{where} must be a string or a non-empty list of content parts", where)
    blocks = []
    for index, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            blocks.append({"type": "text", "text": part["text"]})
        elif kind == "image_url":
            url = (part.get("image_url") or {}).get("url") if isinstance(part.get("image_url"), dict) else None
            if not isinstance(url, str) or not url:
                raise BadRequest(f"{where}[{index}].image_url.url is required", f"{where}[{index}].image_url.url")
            blocks.append(image_block(url))
        else:
            raise BadRequest(f"{where}[{index}]: content part type {kind!r} is not supported (text, image_url)",
                             f"{where}[{index}].type")
    return blocks


def image_block(url: str) -> dict[str, Any]:
    found = DATA_URL.match(url)
    if found:
        return {"type": "image", "source": {"type": "base64", "media_type": found["media"], "data": found["data"]}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _assistant_content(message: dict[str, Any], where: str) -> list[dict[str, Any]]:
    text = _text_only(message.get("content"), f"{where}.content")
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    for index, call in enumerate(message.get("tool_calls") or []):
        spot = f"{where}.tool_calls[{index}]"
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(call.get("id"), str) or not function.get("name"):
            raise BadRequest(f"{spot} needs 'id' and 'function' with 'name' and 'arguments'", spot)
        try:
            arguments = json.loads(function.get("arguments") or "{}")
        except ValueError:
            raise BadRequest(f"{spot}.function.arguments is not valid JSON", f"{spot}.function.arguments") from None
        blocks.append({"type": "tool_use", "id": call["id"], "name": function["name"], "input": arguments})
    if not blocks:
        raise BadRequest(f"{where} has neither content nor tool_calls", f"{where}.content")
    return blocks


def _positive_int(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise BadRequest(f"'{name}' must be a positive integer", name)
    return value


def _number(value: Any, name: str, low: float, high: float) -> float | None:
    if value is None:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not low <= value <= high:
        raise BadRequest(f"'{name}' must be a number from {low:g} to {high:g}", name)
    return float(value)


def _stop(value: Any) -> list[str] | None:
    if value is None:
        return None
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops) or len(stops) > MAX_STOP_SEQUENCES:
        raise BadRequest(f"'stop' must be a string or a list of up to {MAX_STOP_SEQUENCES} strings", "stop")
    return stops or None


def _tools(value: Any) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise BadRequest("'tools' must be a list", "tools")
    tools = []
    for index, tool in enumerate(value):
        where = f"tools[{index}]"
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(tool.get("function"), dict):
            raise BadRequest(f"{where} must be {{'type': 'function', 'function': {{...}}}}", where)
        function = tool["function"]
        schema = function.get("parameters") or {"type": "object", "properties": {}}
        check_tool_schema(function.get("name"), schema, f"{where}.function")
        tools.append({"name": function["name"], "description": function.get("description") or "",
                      "input_schema": schema})
    return tools or None


def _tool_choice(value: Any, parallel: Any) -> dict[str, Any] | None:
    if value is None:
        choice = None
    elif value in ("none", "auto"):
        choice = {"type": value}
    elif value == "required":
        choice = {"type": "any"}
    elif isinstance(value, dict) and isinstance(value.get("function"), dict) and value["function"].get("name"):
        choice = {"type": "tool", "name": value["function"]["name"]}
    else:
        raise BadRequest("'tool_choice' must be none, auto, required or {'type': 'function', 'function': {'name'}}",
                         "tool_choice")
    if parallel is False and (choice or {}).get("type") != "none":
        choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
    return choice


def _response_format(value: Any) -> tuple[bool, dict[str, Any] | None]:
    kind = value.get("type") if isinstance(value, dict) else None
    if kind == "text":
        return False, None
    if kind == "json_object":
        return True, None
    if kind == "json_schema":
        spec = value.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise BadRequest("response_format.json_schema.schema must be a JSON Schema object",
                             "response_format.json_schema.schema")
        check_tool_schema(spec.get("name") or "response", schema, "response_format.json_schema")
        return True, schema
    raise BadRequest("response_format.type must be text, json_object or json_schema", "response_format.type")


# -- outbound: our answer --------------------------------------------------------------------------
def usage_json(usage: Usage) -> dict[str, Any]:
    """OpenAI counts cached and cache-written tokens inside ``prompt_tokens``."""
    prompt = usage.total_input_tokens
    return {"prompt_tokens": prompt, "completion_tokens": usage.output_tokens,
            "total_tokens": prompt + usage.output_tokens,
            "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens}}


def completion(answer: ChatAnswer) -> dict[str, Any]:
    """The ``chat.completion`` object."""
    message: dict[str, Any] = {"role": "assistant", "content": answer.text or None, "refusal": None}
    calls = tool_calls(answer.content)
    if calls:
        message["tool_calls"] = calls
    return {"id": answer.id, "object": "chat.completion", "created": int(time.time()), "model": answer.model,
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": FINISH_REASONS.get(answer.stop_reason, "stop")}],
            "usage": usage_json(answer.usage)}


def error_body(error: ApiError) -> tuple[int, dict[str, Any]]:
    """OpenAI's error shape; a 422 becomes 400, as OpenAI answers every invalid request."""
    status = 400 if error.status == 422 else error.status
    kind = ERROR_TYPES.get(status, "server_error")
    code = "invalid_api_key" if status == 401 else ("model_not_found" if error.code == "model_not_found" else error.code)
    return status, {"error": {"message": error.message, "type": kind, "param": error.field, "code": code}}


# The body ``parse_request`` reads, for /openapi.json (fields not listed pass through or are refused there).
REQUEST_SCHEMA = {
    "type": "object", "required": ["model", "messages"],
    "properties": {
        "model": {"type": "string", "description": "tiergate/auto, tiergate/tier1..3 or a model of the policy"},
        "messages": {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["role"], "properties": {
            "role": {"enum": ["system", "developer", "user", "assistant", "tool"]},
            "content": {"type": ["string", "array", "null"]}, "tool_call_id": {"type": "string"}}}},
        "max_tokens": {"type": "integer", "minimum": 1}, "max_completion_tokens": {"type": "integer", "minimum": 1},
        "temperature": {"type": "number"}, "top_p": {"type": "number"},
        "stop": {"type": ["string", "array", "null"]}, "stream": {"type": "boolean"},
        "stream_options": {"type": "object"}, "tools": {"type": "array"},
        "tool_choice": {"type": ["string", "object"]}, "parallel_tool_calls": {"type": "boolean"},
        "response_format": {"type": "object"}, "metadata": {"type": "object"}, "user": {"type": "string"},
    },
}
