"""Anthropic Messages, both ways: a client's ``/v1/messages`` body in, the ``message`` object and errors out.

The gateway keeps messages in this shape already, so parsing is mostly validation: roles, content
blocks Tiergate can pass on (text, image, tool_use, tool_result, document), tool definitions with valid
input schemas, and ``output_config.format`` (structured output) for the JSON and schema gates.

The client's prompt-cache markers (``cache_control`` on tools, system blocks and content blocks, 5-minute
or ``"ttl": "1h"``) are kept where the client put them and forwarded to the model the call runs on; as
the API does, more than four of them, or one that is not ``{"type": "ephemeral"}`` with a known TTL,
is a 400 naming the field.
"""
from __future__ import annotations

from typing import Any

from app.errors import ApiError, BadRequest
from app.gateway.chat import ChatAnswer, ChatRequest, check_tool_schema
from app.pricing import Usage

BLOCK_TYPES = frozenset({"text", "image", "tool_use", "tool_result", "document"})
TOOL_CHOICES = frozenset({"auto", "any", "tool", "none"})
CACHE_TTLS = frozenset({"5m", "1h"})
MAX_CACHE_BREAKPOINTS = 4  # the Messages API's limit of blocks with cache_control per request
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
               403: "permission_error", 404: "not_found_error", 409: "invalid_request_error",
               413: "request_too_large", 422: "invalid_request_error", 429: "rate_limit_error", 529: "overloaded_error"}


def parse_request(body: dict[str, Any]) -> ChatRequest:
    """Validate a Messages API body into a ``ChatRequest``; ``BadRequest`` names the field."""
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise BadRequest("model: a Tiergate model name such as 'tiergate/auto' is required", "model")
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise BadRequest("max_tokens: a positive integer is required", "max_tokens")
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise BadRequest("messages: a non-empty list is required", "messages")
    messages = [_message(message, f"messages.{index}") for index, message in enumerate(raw_messages)]
    if body.get("tools") is not None and not isinstance(body["tools"], list):
        raise BadRequest("tools: a list of tool definitions is required", "tools")
    tools = []
    for index, tool in enumerate(body.get("tools") or []):
        where = f"tools.{index}"
        if not isinstance(tool, dict) or tool.get("type") not in (None, "custom"):
            raise BadRequest(f"{where}: only client tools (name, description, input_schema) are supported", where)
        check_tool_schema(tool.get("name"), tool.get("input_schema"), where)
        _check_cache_control(tool, where)
        tools.append({key: tool[key] for key in ("name", "description", "input_schema", "cache_control")
                      if tool.get(key) is not None})
    tool_choice = body.get("tool_choice")
    if tool_choice is not None and (not isinstance(tool_choice, dict) or tool_choice.get("type") not in TOOL_CHOICES
                                    or (tool_choice["type"] == "tool" and not tool_choice.get("name"))):
        raise BadRequest("tool_choice: type must be auto, any, none, or tool with a name", "tool_choice")
    output_format = (body.get("output_config") or {}).get("format") if isinstance(body.get("output_config"), dict) else None
    schema = None
    if output_format is not None:
        schema = output_format.get("schema") if isinstance(output_format, dict) else None
        if not isinstance(output_format, dict) or output_format.get("type") != "json_schema" or not isinstance(schema, dict):
            raise BadRequest("output_config.format: {type: json_schema, schema: {...}} is required",
                             "output_config.format")
        check_tool_schema("output", schema, "output_config.format")
    system, system_blocks = _system(body.get("system"))
    _check_breakpoints(tools, system_blocks, messages)
    stop = body.get("stop_sequences")
    if stop is not None and (not isinstance(stop, list) or not all(isinstance(item, str) for item in stop)):
        raise BadRequest("stop_sequences: a list of strings is required", "stop_sequences")
    return ChatRequest(
        model=model.strip(), messages=messages, system=system, system_blocks=system_blocks, max_tokens=max_tokens,
        temperature=body.get("temperature"), top_p=body.get("top_p"), stop=stop or None, tools=tools or None,
        tool_choice=tool_choice, json_schema=schema, json_output=schema is not None, stream=bool(body.get("stream")),
        include_usage=True, metadata=body.get("metadata") if isinstance(body.get("metadata"), dict) else {},
    )


def _system(system: Any) -> tuple[str, list[dict[str, Any]] | None]:
    """The system prompt as text (for routing and review) and, when the client sent blocks, the blocks
    themselves with their cache markers, as they go to the model."""
    if system is None or isinstance(system, str):
        return system or "", None
    if not isinstance(system, list) or not all(isinstance(b, dict) and b.get("type") == "text" for b in system):
        raise BadRequest("system: a string or a list of text blocks is required", "system")
    blocks = []
    for index, block in enumerate(system):
        _check_cache_control(block, f"system.{index}")
        blocks.append({key: block[key] for key in ("type", "text", "cache_control") if block.get(key) is not None})
    return "\n\n".join(block.get("text", "") for block in system), blocks or None


def _message(message: Any, where: str) -> dict[str, Any]:
    if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
        raise BadRequest(f"{where}.role: 'user' or 'assistant' is required", f"{where}.role")
    content = message.get("content")
    if isinstance(content, str):
        return {"role": message["role"], "content": [{"type": "text", "text": content}]}
    if not isinstance(content, list) or not content:
        raise BadRequest(f"{where}.content: a string or a non-empty list of content blocks is required",
                         f"{where}.content")
    for index, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind not in BLOCK_TYPES:
            raise BadRequest(f"{where}.content.{index}.type: {kind!r} is not supported "
                             f"({', '.join(sorted(BLOCK_TYPES))})", f"{where}.content.{index}.type")
        _check_cache_control(block, f"{where}.content.{index}")
    return {"role": message["role"], "content": content}


def _check_cache_control(block: dict[str, Any], where: str) -> None:
    marker = block.get("cache_control")
    if marker is None:
        return
    if not isinstance(marker, dict) or marker.get("type") != "ephemeral" or marker.get("ttl", "5m") not in CACHE_TTLS:
        raise BadRequest(f"{where}.cache_control: {{\"type\": \"ephemeral\"}} with an optional \"ttl\" of "
                         f"\"5m\" or \"1h\" is required", f"{where}.cache_control")


def _check_breakpoints(tools: list[dict[str, Any]], system: list[dict[str, Any]] | None,
                       messages: list[dict[str, Any]]) -> None:
    """At most four cache breakpoints, counted in the API's prefix order: tools, system, messages."""
    places = [f"tools.{index}" for index, tool in enumerate(tools) if "cache_control" in tool]
    places += [f"system.{index}" for index, block in enumerate(system or []) if "cache_control" in block]
    places += [f"messages.{m}.content.{index}" for m, message in enumerate(messages)
               for index, block in enumerate(message["content"]) if block.get("cache_control") is not None]
    if len(places) > MAX_CACHE_BREAKPOINTS:
        where = f"{places[MAX_CACHE_BREAKPOINTS]}.cache_control"
        raise BadRequest(f"{where}: a request may mark at most {MAX_CACHE_BREAKPOINTS} blocks with cache_control "
                         f"(found {len(places)})", where)


def message(answer: ChatAnswer) -> dict[str, Any]:
    """The ``message`` object of a non-streamed answer."""
    return {"id": answer.id, "type": "message", "role": "assistant", "model": answer.model,
            "content": answer.content, "stop_reason": answer.stop_reason, "stop_sequence": None,
            "usage": usage_json(answer.usage)}


def usage_json(usage: Usage) -> dict[str, Any]:
    """The Messages API usage block, cache writes split by TTL as the API reports them."""
    return {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
            "cache_creation_input_tokens": usage.cache_write_tokens, "cache_read_input_tokens": usage.cache_read_tokens,
            "cache_creation": {"ephemeral_5m_input_tokens": usage.cache_write_5m_tokens,
                               "ephemeral_1h_input_tokens": usage.cache_write_1h_tokens}}


def error_body(error: ApiError) -> tuple[int, dict[str, Any]]:
    """Anthropic's error shape; a 422 becomes 400, as the Messages API answers every invalid request."""
    status = 400 if error.status == 422 else error.status
    return status, {"type": "error", "error": {"type": ERROR_TYPES.get(status, "api_error"), "message": error.message}}


# The body ``parse_request`` reads, for /openapi.json.
REQUEST_SCHEMA = {
    "type": "object", "required": ["model", "messages", "max_tokens"],
    "properties": {
        "model": {"type": "string", "description": "tiergate/auto, tiergate/tier1..3 or a model of the policy"},
        "messages": {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["role", "content"],
                                                               "properties": {"role": {"enum": ["user", "assistant"]},
                                                                              "content": {"type": ["string", "array"]}}}},
        "max_tokens": {"type": "integer", "minimum": 1}, "system": {"type": ["string", "array"]},
        "temperature": {"type": "number"}, "top_p": {"type": "number"}, "stop_sequences": {"type": "array"},
        "stream": {"type": "boolean"}, "tools": {"type": "array"}, "tool_choice": {"type": "object"},
        "output_config": {"type": "object"}, "metadata": {"type": "object"},
    },
}
# count_tokens: the same body without max_tokens.
COUNT_TOKENS_SCHEMA = {**REQUEST_SCHEMA, "required": ["model", "messages"]}
