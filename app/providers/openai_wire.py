"""The OpenAI Chat Completions wire format as Tiergate speaks it to an OpenAI-compatible provider.

Messages inside Tiergate are Anthropic-shaped (``tool_use`` / ``tool_result`` / ``image`` blocks);
this module turns them into Chat Completions messages and a provider's answer back into blocks. The
drop-in gateway's OpenAI format (``app.gateway.openai_format``) reuses the block <-> ``tool_calls``
mapping for its answers.
"""
from __future__ import annotations

import json
from typing import Any

from app.providers.base import END_TURN, MAX_TOKENS, TOOL_USE

# OpenAI's finish_reason -> Anthropic's stop reason.
STOP_REASONS = {"stop": END_TURN, "length": MAX_TOKENS, "tool_calls": TOOL_USE, "function_call": TOOL_USE,
                "content_filter": "refusal"}


def tool_calls(answer_content: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``tool_use`` blocks as OpenAI ``tool_calls``."""
    return [{"id": block["id"], "type": "function",
             "function": {"name": block["name"], "arguments": json.dumps(block.get("input") or {})}}
            for block in answer_content if block.get("type") == "tool_use"]


def provider_messages(system: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Anthropic-shaped messages (with the system prompt) as Chat Completions messages."""
    out: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for message in messages:
        content = message["content"]
        if isinstance(content, str):
            out.append({"role": message["role"], "content": content})
        elif message["role"] == "assistant":
            text = "".join(block.get("text", "") for block in content if block.get("type") == "text")
            turn: dict[str, Any] = {"role": "assistant", "content": text or None}
            if tool_calls(content):
                turn["tool_calls"] = tool_calls(content)
            out.append(turn)
        else:
            parts = []
            for block in content:
                if block.get("type") == "tool_result":
                    out.append({"role": "tool", "tool_call_id": block["tool_use_id"],
                                "content": _result_text(block.get("content"))})
                elif block.get("type") == "text":
                    parts.append({"type": "text", "text": block["text"]})
                elif block.get("type") == "image":
                    source = block["source"]
                    url = source["url"] if source["type"] == "url" else f"data:{source['media_type']};base64,{source['data']}"
                    parts.append({"type": "image_url", "image_url": {"url": url}})
            if parts:
                only_text = all(part["type"] == "text" for part in parts)
                out.append({"role": "user", "content": "\n".join(p["text"] for p in parts) if only_text else parts})
    return out


def provider_tools(tools: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    if not tools:
        return None
    return [{"type": "function", "function": {"name": tool["name"], "description": tool.get("description", ""),
                                              "parameters": tool.get("input_schema") or {"type": "object"}}}
            for tool in tools]


def provider_tool_choice(choice: dict[str, Any] | None) -> Any:
    if not choice:
        return None
    kind = choice.get("type")
    if kind == "tool":
        return {"type": "function", "function": {"name": choice["name"]}}
    return {"any": "required"}.get(kind, kind)


def reply_content(message: dict[str, Any]) -> list[dict[str, Any]]:
    """A provider's answer message as Anthropic content blocks."""
    blocks: list[dict[str, Any]] = [{"type": "text", "text": message["content"]}] if message.get("content") else []
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        try:
            arguments = json.loads(function.get("arguments") or "{}")
        except ValueError:
            arguments = {"_unparsed_arguments": function.get("arguments")}
        blocks.append({"type": "tool_use", "id": call.get("id") or "", "name": function.get("name") or "",
                       "input": arguments})
    return blocks


def _result_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(block.get("text", "") for block in content or [] if isinstance(block, dict))
