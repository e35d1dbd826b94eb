"""Text -> n-gram features, the one definition shared by training and scoring.

Training (``training/train_router.py``) and the scorer must see exactly the same features, or the
shipped weights mean something else at run time; both import this module. Only the start of a long
text is read: the decision must stay under a millisecond, and a request's first paragraphs say what
it is.
"""
from __future__ import annotations

import re

# The start of the text that is read, in characters (about 450 tokens).
MAX_CHARS = 1_800
WORD = re.compile(r"[a-z0-9]+|[^\sa-z0-9]", re.IGNORECASE)
# Coarse size features: a one-line ask and a pasted document are routed differently.
LENGTH_BUCKETS = (8, 20, 50, 120, 300)


def words(text: str) -> list[str]:
    return WORD.findall(text[:MAX_CHARS].lower())


def features(text: str) -> set[str]:
    """Unigrams, bigrams and a length bucket of the start of ``text``."""
    tokens = words(text)
    found = set(tokens)
    found.update(f"{a} {b}" for a, b in zip(tokens, tokens[1:]))
    size = len(tokens)
    bucket = next((limit for limit in LENGTH_BUCKETS if size <= limit), "more")
    found.add(f"#len<={bucket}")
    if any(token.isdigit() for token in tokens):
        found.add("#digits")
    return found


def content_features(text: str) -> set[str]:
    """The word n-grams alone, without size markers: the sensitive-content head judges words, not length."""
    return {feature for feature in features(text) if not feature.startswith("#")}
