"""The gateway's own shape of a chat call, between the client's API format and the cascade.

Both drop-in endpoints parse into a ``ChatRequest`` and answer from a ``ChatAnswer``. Messages,
tools and answer content are kept in the Anthropic Messages shape (``tool_use`` / ``tool_result`` /
``image`` blocks), the richer of the two formats and the one the cascade and the Anthropic provider
already speak; ``app.gateway.openai_format`` translates to and from OpenAI's Chat Completions.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from app.errors import BadRequest
from app.gates.schema import schema_problem
from app.pricing import Usage
from app.providers.base import END_TURN, MAX_TOKENS, STOP_SEQUENCE, TOOL_USE  # noqa: F401  (stop reasons)

TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")  # what both APIs accept


@dataclass
class ChatRequest:
    """One drop-in call, whatever format it arrived in."""

    model: str
    messages: list[dict[str, Any]]
    system: str = ""
    # The system prompt as the client's own blocks with its cache markers (Anthropic format only): what
    # an Anthropic tier is sent; ``system`` is their text, for routing, review and other providers.
    system_blocks: list[dict[str, Any]] | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: dict[str, Any] | None = None
    json_output: bool = False
    json_schema: dict[str, Any] | None = None
    stream: bool = False
    include_usage: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)

    def options(self) -> dict[str, Any]:
        """What the cascade needs besides the messages, as JSON for the stored payload."""
        return {"system": self.system, "system_blocks": self.system_blocks, "max_tokens": self.max_tokens, "temperature": self.temperature,
                "top_p": self.top_p, "stop": self.stop, "tools": self.tools, "tool_choice": self.tool_choice,
                "json_output": self.json_output or self.json_schema is not None, "json_schema": self.json_schema}

    def identity(self) -> dict[str, Any]:
        """What makes two calls the same call, for ``Idempotency-Key``: every field but the metadata."""
        return {"model": self.model, "messages": self.messages, "stream": self.stream, **self.options()}

    def transcript(self) -> str:
        """The conversation as plain text: what routing reads and a reviewer sees."""
        lines = [f"system: {self.system}"] if self.system else []
        for message in self.messages:
            lines.append(f"{message['role']}: {block_text(message['content'])}")
        return "\n".join(lines)


@dataclass
class ChatAnswer:
    """What goes back to the client: content blocks, why the model stopped, usage and the decision."""

    id: str
    model: str
    content: list[dict[str, Any]]
    stop_reason: str
    usage: Usage
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "".join(block.get("text", "") for block in self.content if block.get("type") == "text")

    @property
    def tool_uses(self) -> list[dict[str, Any]]:
        return [block for block in self.content if block.get("type") == "tool_use"]


def block_text(content: Any) -> str:
    """Readable text of a message's content: text as is, tool traffic and images as short markers."""
    if isinstance(content, str):
        return content
    parts = []
    for block in content or []:
        kind = block.get("type")
        if kind == "text":
            parts.append(block.get("text", ""))
        elif kind == "tool_use":
            parts.append(f"[tool call {block.get('name')}: {json.dumps(block.get('input'), ensure_ascii=False)}]")
        elif kind == "tool_result":
            parts.append(f"[tool result: {block_text(block.get('content'))}]")
        elif kind == "image":
            parts.append("[image]")
    return "\n".join(part for part in parts if part)


def check_tool_schema(name: Any, schema: Any, where: str) -> None:
    """A tool (or response format) name both APIs accept and a JSON Schema object; else ``BadRequest``."""
    if not isinstance(name, str) or not TOOL_NAME.match(name):
        raise BadRequest(f"{where}.name must be 1-64 letters, digits, '_' or '-' (got {name!r})", f"{where}.name")
    if not isinstance(schema, dict) or schema.get("type", "object") != "object":
        raise BadRequest(f"{where}: the schema must be a JSON Schema object with type 'object'", where)
    problem = schema_problem(schema)  # an unresolvable $ref too: refused before any paid call
    if problem:
        raise BadRequest(f"{where}: {problem}", where)
