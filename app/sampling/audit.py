"""The monthly audit sample: strata, the draw into the review queue, wrong-answer rates and their bands.

Rates are exact fractions, so 1 wrong in 20 is exactly 5% and falls in the "adjust" band.
"""
from __future__ import annotations

import calendar
import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import InvalidField
from app.store import Request, Review, utcnow

# Audit classes and their default sample sizes (items per month).
DEFAULT_STRATA = {"classification": 20, "extraction": 10, "format_rewrite": 10, "translation": 10}
# Which task types of the default policy answer for each audit class.
CLASS_TASK_TYPES = {
    "classification": ("classification", "list_classification"),
    "extraction": ("extraction", "crm_cleanup"),
    "format_rewrite": ("format_rewrite",),
    "translation": ("translation",),
}
SAMPLED_TIER = "tier1"
KEEP_BELOW = Fraction(5, 100)       # under 5% wrong: keep
ADJUST_UP_TO = Fraction(10, 100)    # 5% to 10% inclusive: adjust the prompt; above: move up a tier
KEEP, ADJUST, MOVE_UP, NO_DATA = "keep", "adjust_prompt", "move_up", "no_data"
RECOMMENDATION_TEXT = {
    KEEP: "keep as it is",
    ADJUST: "adjust the prompt and add examples",
    MOVE_UP: "move the class up one tier",
    NO_DATA: "no marked samples yet",
}


# -- months --------------------------------------------------------------------------------------

def parse_month(text: str) -> str:
    try:
        moment = datetime.strptime(text.strip(), "%Y-%m")
    except ValueError:
        raise InvalidField(f"month must look like 2025-04, got {text!r}", "month") from None
    return moment.strftime("%Y-%m")


def month_bounds(month: str) -> tuple[datetime, datetime]:
    year, number = map(int, parse_month(month).split("-"))
    start = datetime(year, number, 1, tzinfo=timezone.utc)
    end = start + timedelta(days=calendar.monthrange(year, number)[1])
    return start, end


def previous_month(now: datetime | None = None) -> str:
    first = (now or utcnow()).replace(day=1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


# -- drawing the sample --------------------------------------------------------------------------

def allocate(quotas: dict[str, int], available: dict[str, int]) -> dict[str, int]:
    """Sample size per class: its quota, or all it has; the shortfall goes to classes with answers to spare.

    Extra places go one at a time to the class furthest below its share (take / quota), so the sample
    keeps the default proportions as far as the month's answers allow.
    """
    take = {name: min(quota, available.get(name, 0)) for name, quota in quotas.items()}
    shortfall = sum(quotas.values()) - sum(take.values())
    while shortfall > 0:
        spare = [name for name in quotas if available.get(name, 0) > take[name] and quotas[name] > 0]
        if not spare:
            break
        name = min(spare, key=lambda n: (Fraction(take[n], quotas[n]), -quotas[n], n))
        take[name] += 1
        shortfall -= 1
    return take


@dataclass
class Candidate:
    """One tier1 answer that may be audited: a fallback request, or one row of a classify request."""

    request_id: str
    task_type: str
    item_index: int | None = None


@dataclass
class SampleResult:
    month: str
    available: dict[str, int]
    drawn: dict[str, int]
    review_ids: list[str] = field(default_factory=list)
    already_drawn: bool = False

    @property
    def total(self) -> int:
        return sum(self.drawn.values())


def _class_of(task_type: str) -> str | None:
    return next((name for name, types in CLASS_TASK_TYPES.items() if task_type in types), None)


def candidates(session: Session, month: str) -> dict[str, list[Candidate]]:
    """Every tier1 answer of the month per audit class, without loading the answers themselves."""
    start, end = month_bounds(month)
    task_types = [task_type for types in CLASS_TASK_TYPES.values() for task_type in types]
    rows = session.execute(select(Request.id, Request.task_type, Request.kind, Request.progress_total)
                           .where(Request.created_at >= start, Request.created_at < end,
                                  Request.tier == SAMPLED_TIER, Request.task_type.in_(task_types),
                                  # A classify list with a few flagged rows still has tier1 answers to audit.
                                  (Request.status == "done") | ((Request.kind == "classify")
                                                                & (Request.status == "needs_review")))
                           .order_by(Request.created_at, Request.id))
    pools: dict[str, list[Candidate]] = {name: [] for name in CLASS_TASK_TYPES}
    for request_id, task_type, kind, item_count in rows:
        pool = pools[_class_of(task_type)]
        if kind == "classify":
            pool.extend(Candidate(request_id, task_type, index) for index in range(item_count or 0))
        else:
            pool.append(Candidate(request_id, task_type))
    return pools


def draw_sample(session: Session, month: str, *, quotas: dict[str, int] | None = None,
                seed: int | str | None = None) -> SampleResult:
    """Put the month's stratified sample into the review queue as audit items (once per month)."""
    month = parse_month(month)
    quotas = dict(quotas or DEFAULT_STRATA)
    existing = dict(session.execute(select(Review.audit_class, func.count()).where(Review.kind == "audit",
                                                                                  Review.audit_month == month)
                                    .group_by(Review.audit_class)).all())
    pools = candidates(session, month)
    available = {name: len(pool) for name, pool in pools.items()}
    if existing:
        return SampleResult(month, available, {name: existing.get(name, 0) for name in quotas}, already_drawn=True)
    sizes = allocate(quotas, available)
    rng = random.Random(seed)
    result = SampleResult(month, available, sizes)
    for name, size in sizes.items():
        for candidate in rng.sample(pools[name], size):
            review = _audit_item(session, candidate, month, name)
            if review is not None:
                session.add(review)
                session.flush()
                result.review_ids.append(review.id)
    result.drawn = {name: 0 for name in quotas}
    for review_id in result.review_ids:
        result.drawn[session.get(Review, review_id).audit_class] += 1
    return result


def _audit_item(session: Session, candidate: Candidate, month: str, audit_class: str) -> Review | None:
    request = session.get(Request, candidate.request_id)
    payload, outcome = request.payload or {}, request.result or {}
    if candidate.item_index is None:
        input_text, draft = _input_of(payload), _text(outcome.get("output"))
    else:
        items, results = payload.get("items") or [], outcome.get("results") or []
        answer = results[candidate.item_index] if candidate.item_index < len(results) else None
        if not isinstance(answer, dict) or answer.get("needs_review") or answer.get("error"):
            return None  # a person already looked at it, or there is no answer to audit
        item = items[candidate.item_index] if candidate.item_index < len(items) else None
        labels = payload.get("labels") or (payload.get("spec") or {}).get("labels") or []
        names = [label.get("name", "") if isinstance(label, dict) else str(label) for label in labels]
        input_text = _item_text(item) + ("\n\nLabels: " + ", ".join(names) if names else "")
        draft = _text({key: answer.get(key) for key in ("label", "confidence", "reason")})
    return Review(kind="audit", status="pending", request_id=request.id, task_type=candidate.task_type,
                  tier=SAMPLED_TIER, input_text=input_text, draft=draft, audit_month=month, audit_class=audit_class,
                  reasons=[{"rule": "audit_sample", "detail": f"{month} quality sample, class {audit_class}"}],
                  request_metadata={**(request.request_metadata or {}),
                                    **({"item_index": candidate.item_index} if candidate.item_index is not None else {})})


def _input_of(payload: dict[str, Any]) -> str:
    if payload.get("text"):
        return str(payload["text"])
    messages = payload.get("messages") or []
    return "\n\n".join(f"{m.get('role', 'user')}: {m.get('content', '')}" for m in messages if isinstance(m, dict))


def _item_text(item: Any) -> str:
    if isinstance(item, dict):
        return str(item.get("text") or item.get("input") or json.dumps(item, ensure_ascii=False))
    return "" if item is None else str(item)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, indent=2)


# -- rates and recommendations -------------------------------------------------------------------

def recommend(wrong: int, marked: int) -> str:
    """The band of a wrong-answer rate: keep under 5%, adjust from 5% to 10%, move up above 10%."""
    if marked <= 0:
        return NO_DATA
    rate = Fraction(wrong, marked)
    if rate < KEEP_BELOW:
        return KEEP
    if rate <= ADJUST_UP_TO:
        return ADJUST
    return MOVE_UP


@dataclass(frozen=True)
class ClassRate:
    audit_class: str
    sampled: int
    marked: int
    wrong: int
    correction_minutes: float | None  # mean minutes spent on a wrong answer
    recommendation: str

    @property
    def rate(self) -> Fraction | None:
        return Fraction(self.wrong, self.marked) if self.marked else None

    @property
    def rate_pct(self) -> float | None:
        return round(float(self.rate) * 100, 1) if self.marked else None

    def to_dict(self) -> dict[str, Any]:
        return {"class": self.audit_class, "task_types": list(CLASS_TASK_TYPES.get(self.audit_class, ())),
                "sampled": self.sampled, "marked": self.marked, "wrong": self.wrong, "wrong_rate_pct": self.rate_pct,
                "correction_minutes": self.correction_minutes, "recommendation": self.recommendation,
                "recommendation_text": RECOMMENDATION_TEXT[self.recommendation]}


def class_rates(session: Session, month: str) -> list[ClassRate]:
    """Per audit class: sample size, marked items, wrong answers, minutes and the recommendation."""
    month = parse_month(month)
    rows = session.execute(select(Review.audit_class, Review.status, Review.audit_correct, Review.minutes_spent)
                           .where(Review.kind == "audit", Review.audit_month == month))
    stats: dict[str, dict[str, Any]] = {name: {"sampled": 0, "marked": 0, "wrong": 0, "minutes": []}
                                        for name in CLASS_TASK_TYPES}
    for audit_class, status, correct, minutes in rows:
        entry = stats.setdefault(audit_class, {"sampled": 0, "marked": 0, "wrong": 0, "minutes": []})
        entry["sampled"] += 1
        if status != "pending" and correct is not None:
            entry["marked"] += 1
            if not correct:
                entry["wrong"] += 1
                if minutes is not None:
                    entry["minutes"].append(minutes)
    return [ClassRate(name, entry["sampled"], entry["marked"], entry["wrong"],
                      round(sum(entry["minutes"]) / len(entry["minutes"]), 1) if entry["minutes"] else None,
                      recommend(entry["wrong"], entry["marked"])) for name, entry in stats.items()]
