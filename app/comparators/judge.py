"""The judge: a model reads the input and both answers against a written rubric and answers
``{"same_or_better": bool, "reason": str}``.

Free text has no exact match, so a model decides whether the cheap tier's answer is as good as the
baseline's for the task. The verdict must be exactly that JSON: anything else (prose, a missing or
non-boolean ``same_or_better``, a failed call) is recorded as ``not_judged`` and never counted as
agreement, because an unreadable verdict says nothing about quality.
"""
from __future__ import annotations

from app.errors import ProviderError
from app.gates.checks import parse_json
from app.comparators.base import Case, Comparator, Verdict
from app.store.shadow import AGREE, DISAGREE, NOT_JUDGED

DEFAULT_RUBRIC = """You compare two answers to the same task for a small business's automation.
Answer A is the candidate; answer B is the reference from a stronger model. Decide whether A is the
same as or better than B for the person who asked:
- Same facts: A states nothing false or missing that B gets right (names, numbers, dates, conditions).
- Same instruction-following: A follows the task's format, language and length as well as B.
- Same usefulness: a reader would act on A as confidently as on B. Wording and style differences
  that change none of the above do not matter.
If A is worse on any point, same_or_better is false and the reason names the point."""
VERDICT_FORMAT = ('Answer with JSON only, no prose: {"same_or_better": true or false, '
                  '"reason": "<one sentence naming what decided it>"}')
SHOWN_VERDICT_CHARS = 120


def judge_prompt(case: Case, rubric: str = "") -> tuple[str, str]:
    """(system, user) of the judge call."""
    system = f"{(rubric or DEFAULT_RUBRIC).strip()}\n\n{VERDICT_FORMAT}"
    user = (f"Task type: {case.task_type}\n\nInput:\n<<<\n{case.input_text}\n>>>\n\n"
            f"Answer A (candidate):\n<<<\n{case.answer_text}\n>>>\n\n"
            f"Answer B (reference):\n<<<\n{case.baseline_text}\n>>>")
    return system, user


def read_verdict(text: str) -> Verdict:
    """The judge's answer as a verdict; anything but the agreed JSON is ``not_judged``."""
    try:
        data = parse_json(text)
    except ValueError:
        return Verdict(NOT_JUDGED, f"the judge's verdict is not JSON: {_shown(text)}")
    if not isinstance(data, dict) or not isinstance(data.get("same_or_better"), bool):
        return Verdict(NOT_JUDGED, f"the judge's verdict has no boolean same_or_better: {_shown(text)}")
    reason = data.get("reason")
    reason = reason.strip() if isinstance(reason, str) and reason.strip() else "(the judge gave no reason)"
    return Verdict(AGREE if data["same_or_better"] else DISAGREE, reason)


class JudgeComparator(Comparator):
    """Free text: a judge model's verdict on the two answers."""

    name = "judge"

    def compare(self, case: Case) -> Verdict:
        if case.ask is None:
            return Verdict(NOT_JUDGED, "no judge is configured")
        try:
            text = case.ask(*judge_prompt(case, self.params.get("rubric", "")))
        except ProviderError as exc:
            return Verdict(NOT_JUDGED, f"the judge call failed: {exc}")
        return read_verdict(text)


def _shown(text: str) -> str:
    text = " ".join((text or "").split())
    return repr(text if len(text) <= SHOWN_VERDICT_CHARS else text[:SHOWN_VERDICT_CHARS - 1] + "…")
