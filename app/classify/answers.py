"""Reading one chunk's answer: which items got a usable verdict, and which failed a gate.

The whole answer must parse as JSON (the ``json`` gate) and be a list of verdicts (a ``{"results":
[...]}`` wrapper is tolerated); each verdict must name an item of the call, carry an allowed label
(the ``label_in_set`` gate) and a confidence between 0 and 1. An item without a usable verdict is a
gate failure of that item only: its neighbours in the chunk keep their answers.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.classify.request import UNKNOWN_LABEL
from app.gates import GateContext, parse_json
from app.gates.checks import LabelInSet

MAX_REASON_CHARS = 300


@dataclass(frozen=True)
class Verdict:
    label: str
    confidence: float
    reason: str


@dataclass
class ChunkAnswer:
    """Verdicts by position in the call; ``failures`` maps the other positions to (gate, reason)."""

    verdicts: dict[int, Verdict]
    failures: dict[int, tuple[str, str]]

    @property
    def gate_summary(self) -> tuple[str | None, str | None]:
        """The first failure, for the attempt's ``gate`` and ``reason`` columns."""
        if not self.failures:
            return None, None
        position, (gate, reason) = next(iter(sorted(self.failures.items())))
        more = len(self.failures) - 1
        return gate, f"item {position}: {reason}" + (f" (and {more} more)" if more else "")


def read_answer(text: str, count: int, labels: list[str], allow_unknown: bool) -> ChunkAnswer:
    """Verdicts for positions ``0..count-1`` of one call's answer ``text``."""
    try:
        parsed = parse_json(text)
    except ValueError as exc:
        return _all_failed(count, "json", f"the answer is not valid JSON: {exc}")
    if isinstance(parsed, dict):
        parsed = next((parsed[key] for key in ("results", "items", "labels") if isinstance(parsed.get(key), list)),
                      [parsed] if count == 1 else None)
    if not isinstance(parsed, list):
        return _all_failed(count, "json", "the answer is not a JSON array of verdicts")
    allowed = labels + ([UNKNOWN_LABEL] if allow_unknown and UNKNOWN_LABEL.casefold() not in
                        {label.casefold() for label in labels} else [])
    canonical = {label.casefold(): label for label in allowed}
    gate = LabelInSet(labels=allowed)
    verdicts: dict[int, Verdict] = {}
    failures: dict[int, tuple[str, str]] = {}
    for entry_index, entry in enumerate(parsed):
        if not isinstance(entry, dict):
            continue
        position = _position(entry.get("id"), entry_index if len(parsed) == count else None)
        if position is None or not 0 <= position < count or position in verdicts:
            continue
        checked = gate.check("", GateContext(parsed=entry))
        if not checked.ok:
            failures[position] = ("label_in_set", checked.reason)
            continue
        confidence = entry.get("confidence")
        if isinstance(confidence, str):
            try:
                confidence = float(confidence)
            except ValueError:
                confidence = None
        if not isinstance(confidence, (int, float)) or isinstance(confidence, bool) or not 0 <= confidence <= 1:
            failures[position] = ("json", f"confidence {confidence!r} is not a number between 0 and 1")
            continue
        reason = str(entry.get("reason") or "").strip()[:MAX_REASON_CHARS]
        verdicts[position] = Verdict(canonical[str(entry["label"]).strip().casefold()], float(confidence), reason)
    for position in range(count):
        if position not in verdicts and position not in failures:
            failures[position] = ("json", "the answer has no verdict for this item")
    return ChunkAnswer(verdicts, failures)


def _position(value: Any, fallback: int | None) -> int | None:
    if isinstance(value, bool):
        return fallback
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return fallback


def _all_failed(count: int, gate: str, reason: str) -> ChunkAnswer:
    return ChunkAnswer({}, {position: (gate, reason) for position in range(count)})
