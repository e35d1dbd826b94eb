"""Comparators: does the cheap tier's answer agree with the baseline model's answer to the same input?

    COMPARATORS = {"label": LabelMatch, "fields": FieldMatch, "judge": JudgeComparator}

A base class with one abstract ``compare`` and a plain registry, like the gates: adding a comparator
is one small class and one registry line. A task type names its comparator in its ``shadow`` setting;
without one it follows the output format (``choose``): a JSON answer with a ``label`` is compared by
label, any other JSON field by field, free text by a judge model.

A comparator never guesses agreement: when it cannot read one of the answers (or the judge's verdict)
the verdict is ``not_judged``, which the report counts apart from the agreement rate.
"""
from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from app.gates.checks import parse_json
from app.store.shadow import AGREE, DISAGREE, NOT_JUDGED

if TYPE_CHECKING:
    from app.policy.schema import TaskType

# Self-reported fields of a model's JSON answer; they say how the model felt, not what it answered.
SELF_REPORTED_FIELDS = ("confidence", "reason")
SHOWN_VALUE_CHARS = 60


@dataclass(frozen=True)
class Verdict:
    status: str  # agree | disagree | not_judged
    reason: str


@dataclass
class Case:
    """One comparison: the input, the delivered answer, the baseline's answer and how to ask a judge."""

    task_type: str
    input_text: str
    answer: Any  # the delivered output: text, or the parsed object of a JSON task
    baseline_text: str
    answer_model: str = ""
    baseline_model: str = ""
    ignore_fields: list[str] = field(default_factory=list)
    # (system, user) -> the judge's text. The shadow job supplies it and records the call's cost.
    ask: Callable[[str, str], str] | None = None

    @property
    def answer_text(self) -> str:
        return self.answer if isinstance(self.answer, str) else json.dumps(self.answer, ensure_ascii=False)


class Comparator(ABC):
    """One way of comparing two answers. Settings (the judge's rubric) come as keyword parameters."""

    name: ClassVar[str]

    def __init__(self, **params: Any):
        self.params = params

    @abstractmethod
    def compare(self, case: Case) -> Verdict:
        """Agree, disagree or not judged, with a reason a person can check against both answers."""


def _as_object(value: Any) -> Any:
    if isinstance(value, str):
        return parse_json(value)
    return value


class LabelMatch(Comparator):
    """Classification: the same label, ignoring case and surrounding space."""

    name = "label"

    def compare(self, case: Case) -> Verdict:
        answer, baseline = _label(case.answer), _label(case.baseline_text)
        if answer is None or baseline is None:
            which = "the delivered answer" if answer is None else "the baseline answer"
            return Verdict(NOT_JUDGED, f"{which} has no readable label")
        if answer.casefold() == baseline.casefold():
            return Verdict(AGREE, f"both answered {answer!r}")
        return Verdict(DISAGREE, f"label {answer!r} vs baseline {baseline!r}")


def _label(value: Any) -> str | None:
    try:
        data = _as_object(value)
    except ValueError:
        data = value.strip() if isinstance(value, str) and "\n" not in value.strip() else None
    if isinstance(data, dict):
        data = data.get("label")
    return data.strip() if isinstance(data, str) and data.strip() else None


class FieldMatch(Comparator):
    """Extraction and CRM cleanup: every field equal after normalisation (case, spacing, trailing
    punctuation, number formatting; empty equals missing). Self-reported fields are not compared."""

    name = "fields"

    def compare(self, case: Case) -> Verdict:
        try:
            answer, baseline = _as_object(case.answer), _as_object(case.baseline_text)
        except ValueError:
            return Verdict(NOT_JUDGED, "an answer is not valid JSON")
        if not isinstance(answer, dict) or not isinstance(baseline, dict):
            return Verdict(NOT_JUDGED, "an answer is not a JSON object")
        ignored = set(SELF_REPORTED_FIELDS) | set(case.ignore_fields)
        names = sorted((set(answer) | set(baseline)) - ignored)
        differing = [name for name in names if normalise(answer.get(name)) != normalise(baseline.get(name))]
        if not differing:
            return Verdict(AGREE, f"{len(names)} fields equal after normalisation")
        shown = "; ".join(f"{name}: {_short(answer.get(name))} vs baseline {_short(baseline.get(name))}"
                          for name in differing)
        return Verdict(DISAGREE, f"{len(differing)} of {len(names)} fields differ: {shown}")


_SPACE = re.compile(r"\s+")


def normalise(value: Any) -> Any:
    """A field value in comparable form: ``" ACME gmbh. "`` == ``"Acme GmbH"``, ``"42"`` == ``42``."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = _SPACE.sub(" ", value).strip().rstrip(".,;:").strip().casefold()
        if not text:
            return None
        try:
            return float(text.replace(",", "")) if re.fullmatch(r"-?[\d,]*\.?\d+", text) else text
        except ValueError:
            return text
    if isinstance(value, list):
        return [normalise(item) for item in value] or None
    if isinstance(value, dict):
        return {key: normalise(item) for key, item in value.items()} or None
    return value


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= SHOWN_VALUE_CHARS else text[:SHOWN_VALUE_CHARS - 1] + "…"


from app.comparators.judge import JudgeComparator  # noqa: E402  (the judge builds on the base above)

COMPARATORS: dict[str, type[Comparator]] = {
    "label": LabelMatch,
    "fields": FieldMatch,
    "judge": JudgeComparator,
}


def choose(task: "TaskType | None") -> str:
    """The comparator a task type names, else the one its output format calls for."""
    if task is not None and task.shadow is not None and task.shadow.comparator:
        return task.shadow.comparator
    if task is None or task.output_format != "json":
        return "judge"
    schema = task.output_schema or {}
    # A list task's schema describes its rows; each shadowed row is compared on its own.
    properties = schema.get("properties") or (schema.get("items") or {}).get("properties") or {}
    return "label" if "label" in properties else "fields"


def build(name: str, **params: Any) -> Comparator:
    return COMPARATORS[name](**params)


__all__ = ["COMPARATORS", "Case", "Comparator", "FieldMatch", "LabelMatch", "Verdict", "build", "choose", "normalise"]
