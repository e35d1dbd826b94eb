"""What a person recognises a review item by: the customer, the subject and the first line of the input.

Used where an item is named to a person rather than to a program: the queue rows on /review and the
``review.created`` notifications. Workflows pass these in ``metadata`` (the n8n workflows send
``customer_email`` and ``subject``); the first line comes from the text the task was run on.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The metadata keys workflows use for who a message is from, best first.
CUSTOMER_KEYS = ("customer_name", "customer", "customer_email", "name", "email", "company", "from")
SUBJECT_KEYS = ("subject", "title", "topic")
FIRST_LINE_CHARS = 120


@dataclass(frozen=True)
class ReviewSummary:
    customer: str | None
    subject: str | None
    first_line: str | None

    def one_line(self) -> str:
        """``Maria Rossi · Invoice 2291 · "Hello, my last invoice…"`` (the parts that are known)."""
        parts = [self.customer, self.subject, f"“{self.first_line}”" if self.first_line else None]
        return " · ".join(part for part in parts if part) or "(no text)"

    def to_dict(self) -> dict[str, Any]:
        return {"customer": self.customer, "subject": self.subject, "first_line": self.first_line}


def _first(metadata: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = metadata.get(key)
        if value not in (None, ""):
            return str(value).strip()[:FIRST_LINE_CHARS]
    return None


def first_line(text: str | None, limit: int = FIRST_LINE_CHARS) -> str | None:
    for line in (text or "").splitlines():
        line = line.strip()
        if line:
            return line if len(line) <= limit else line[:limit - 1].rstrip() + "…"
    return None


def summarize(review) -> ReviewSummary:
    """The summary of a ``Review`` row (or anything with ``request_metadata`` and ``input_text``)."""
    metadata = getattr(review, "request_metadata", None) or {}
    return ReviewSummary(_first(metadata, CUSTOMER_KEYS), _first(metadata, SUBJECT_KEYS),
                         first_line(getattr(review, "input_text", None)))
