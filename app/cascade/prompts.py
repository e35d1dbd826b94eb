"""How a cascade step becomes a ``ModelCall``.

The task type's prompt, its own output schema and the caller's brand rules / knowledge snippets form the
*cached* system prefix: identical for every request of that task type, so the provider's prompt cache
serves it at a tenth of the input price. Everything per request — allowed labels, the caller's output
schema, the escalation hint — goes into the uncached system block after it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

HINT_INTRO = ("Earlier answers to this request failed a quality check. Use them as context and as "
              "examples of what to avoid, and give a corrected answer.")


@dataclass(frozen=True)
class Hint:
    """A failed earlier answer and why it failed, passed up the cascade."""

    tier: str
    model: str
    answer: str
    reason: str


def cached_prefix(task_prompt: str, task_schema: dict[str, Any] | None, snippets: list[str]) -> str:
    parts = [task_prompt.strip()]
    if task_schema:
        parts.append("Output JSON Schema:\n" + json.dumps(task_schema, sort_keys=True))
    for snippet in snippets:
        if snippet and snippet.strip():
            parts.append(snippet.strip())
    return "\n\n".join(part for part in parts if part)


def request_system(labels: list[str] | None, output_schema: dict[str, Any] | None, hints: list[Hint]) -> str:
    parts = []
    if labels:
        parts.append("Allowed labels: " + ", ".join(labels))
    if output_schema:
        parts.append("The answer must match this JSON Schema:\n" + json.dumps(output_schema, sort_keys=True))
    if hints:
        lines = [HINT_INTRO]
        for hint in hints:
            lines.append(f"\nAnswer from {hint.tier} ({hint.model}):\n<<<\n{hint.answer}\n>>>\n"
                         f"Problem: {hint.reason}")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def input_messages(text: str | None, messages: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    if messages:
        return [{"role": m["role"], "content": m["content"]} for m in messages]
    return [{"role": "user", "content": text or ""}]


def input_text(text: str | None, messages: list[dict[str, Any]] | None) -> str:
    """The input as plain text, for the self-check prompt and review drafts."""
    if text is not None:
        return text
    return "\n".join(f"{m['role']}: {m['content']}" for m in messages or [] if isinstance(m.get("content"), str))
