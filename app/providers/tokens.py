"""Token estimate of an input without calling a tokenizer.

Claude's tokenizer is not available offline, so routing uses a cheap estimate: about four characters
per token for Latin text and one token per character for CJK and other wide scripts, plus a small
overhead per message. Good enough to apply the 8,000-token rule and to estimate cost; the ledger
always records the provider's own counts.
"""
from __future__ import annotations

import math
import re

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD_TOKENS = 4
WIDE_CHARACTER = re.compile(r"[^\u0000-\u2e7f]")


def estimate_tokens(text: str) -> int:
    if not text:
        return 0
    wide = len(WIDE_CHARACTER.findall(text))
    return wide + math.ceil((len(text) - wide) / CHARS_PER_TOKEN)


def estimate_message_tokens(messages: list[dict]) -> int:
    return sum(estimate_tokens(str(message.get("content", ""))) + MESSAGE_OVERHEAD_TOKENS for message in messages)
