"""``POST /v1/messages/count_tokens``: the input tokens of a Messages API call, without calling a model.

Counted with the estimate routing uses (``app.providers.tokens``: no tokenizer is available offline),
over what the model would be sent: the system prompt, every turn as text (tool calls and results
included) and the tool definitions with their schemas. Good enough to size a prompt against a
context window or a budget; the ledger records the provider's own counts for real calls.
"""
from __future__ import annotations

import json

from app.gateway.chat import ChatRequest, block_text
from app.providers.tokens import MESSAGE_OVERHEAD_TOKENS, estimate_tokens


def input_tokens(chat: ChatRequest) -> int:
    """Estimated input tokens of ``chat``."""
    total = estimate_tokens(chat.system)
    total += sum(estimate_tokens(block_text(message["content"])) + MESSAGE_OVERHEAD_TOKENS
                 for message in chat.messages)
    if chat.tools:
        total += estimate_tokens(json.dumps(chat.tools, ensure_ascii=False, separators=(",", ":")))
    if chat.json_schema is not None:
        total += estimate_tokens(json.dumps(chat.json_schema, ensure_ascii=False, separators=(",", ":")))
    return total
