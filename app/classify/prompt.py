"""The classify prompt: one cached prefix per list, one short user message per chunk.

The prefix — the task type's prompt, the caller's instructions, the allowed labels with their
descriptions and examples, and the answer format — is byte-identical for every chunk of a list, so
the provider writes it to its prompt cache on the first chunk and every later chunk reads it at a
tenth of the input price. Only the items change from chunk to chunk, and they go into the user
message. The model sees items by position (0, 1, 2, ...), never by the caller's ids: positions are
short, unique and cannot be confused with the item's text.
"""
from __future__ import annotations

import json

from app.classify.request import UNKNOWN_LABEL, ClassifySpec
from app.providers.base import ModelCall

# Output budget per item (id, label, confidence, a short reason), and the overhead of the JSON list.
OUTPUT_TOKENS_PER_ITEM = 80
OUTPUT_TOKENS_OVERHEAD = 100
MAX_CHUNK_OUTPUT_TOKENS = 16_000

ANSWER_FORMAT = (
    'Answer with a JSON array only, one object per item, in the order given: '
    '[{"id": <the item\'s id>, "label": "<one allowed label>", "confidence": <0..1>, '
    '"reason": "<at most 12 words>"}]. The confidence is how sure you are that the label is right.'
)
UNKNOWN_NOTE = (f'If no allowed label fits an item, or the item does not say enough, answer "{UNKNOWN_LABEL}" '
                'with a low confidence instead of guessing.')
NO_UNKNOWN_NOTE = "Every item must get one of the allowed labels, even when you are unsure (then say so in the confidence)."


def cached_prefix(task_prompt: str, spec: ClassifySpec) -> str:
    """The stable part of every chunk's prompt for one list."""
    parts = [task_prompt.strip()]
    if spec.instructions:
        parts.append("Instructions from the list's owner:\n" + spec.instructions.strip())
    parts.append("Allowed labels: " + json.dumps(spec.label_names, ensure_ascii=False))
    described = [label for label in spec.labels if label.get("description") or label.get("examples")]
    if described:
        lines = ["What the allowed labels mean:"]
        for label in described:
            line = f"- {label['name']}"
            if label.get("description"):
                line += f": {label['description']}"
            if label.get("examples"):
                line += " (e.g. " + "; ".join(json.dumps(example, ensure_ascii=False) for example in label["examples"]) + ")"
            lines.append(line)
        parts.append("\n".join(lines))
    parts.append(UNKNOWN_NOTE if spec.allow_unknown else NO_UNKNOWN_NOTE)
    parts.append(ANSWER_FORMAT)
    return "\n\n".join(part for part in parts if part)


def chunk_message(texts: list[str]) -> str:
    """The items of one call as a JSON array of ``{id, text}``, ids being positions in this call."""
    return json.dumps([{"id": position, "text": text} for position, text in enumerate(texts)], ensure_ascii=False)


def chunk_call(*, model: str, tier: str, prefix: str, texts: list[str], purpose: str, hint: str = "") -> ModelCall:
    """The model call for ``texts``; ``hint`` (per call, uncached) explains an earlier failed answer."""
    max_tokens = min(MAX_CHUNK_OUTPUT_TOKENS, OUTPUT_TOKENS_OVERHEAD + OUTPUT_TOKENS_PER_ITEM * len(texts))
    return ModelCall(model=model, messages=[{"role": "user", "content": chunk_message(texts)}],
                     cached_system=prefix, system=hint, max_tokens=max_tokens, json_output=True, tier=tier,
                     purpose=purpose, expected_output_tokens=40 * len(texts))


def retry_hint(problem: str) -> str:
    return ("An earlier answer for these items failed a format check: " + problem[:500]
            + ". Answer again, exactly in the required format.")

