"""Per-class shadow agreement, its confidence interval, the disagreements, the spend line, and the
recommendation that weighs it together with the monthly human sample.

Agreement rate = agreed / compared, where compared counts verdicts ``agree`` and ``disagree`` only:
``not_judged`` (an unreadable answer or judge verdict), ``failed`` baseline calls, comparisons still
queued and ones skipped for budget are shown but never counted as agreement. The interval is Wilson's
score interval at 95%, which stays inside 0-100% and is honest for the small counts a month of 5%
sampling gives.

Recommendation bands are the sample's (keep under 5% wrong, adjust the prompt 5-10%, move the class
up a tier over 10%), applied to the human wrong-answer rate and to the shadow disagreement rate; the
class gets the stricter of the two. A disagreement is not proof the cheap tier was wrong (the
baseline errs too), which is why the disagreements are listed for a person and can go to the review
queue. A shadow signal needs ``MIN_COMPARED`` comparisons before it can move a class.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from app.policy import Policy
from app.reports.period import Period
from app.sampling.audit import ADJUST, KEEP, MOVE_UP, NO_DATA, recommend
from app.sampling.audit import RECOMMENDATION_TEXT as SAMPLE_TEXT
from app.comparators.base import choose
from app.store import Review, ShadowComparison
from app.store.shadow import AGREE, DISAGREE, FAILED, NOT_JUDGED, QUEUED

Z_95 = 1.959963984540054
MIN_COMPARED = 10
KEEP_BELOW_PCT, MOVE_UP_ABOVE_PCT = 5.0, 10.0
SEVERITY = {NO_DATA: 0, KEEP: 1, ADJUST: 2, MOVE_UP: 3}
ZERO = Decimal(0)
RECOMMENDATION_TEXT = {**SAMPLE_TEXT, NO_DATA: "too few comparisons and no marked samples yet"}
MONEY_PLACES = Decimal("0.000001")


def wilson(agreed: int, compared: int, z: float = Z_95) -> tuple[float, float] | None:
    """Wilson score interval of ``agreed / compared`` as fractions, or None without comparisons."""
    if compared <= 0:
        return None
    p, n = agreed / compared, compared
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class ClassShadow:
    """One task type's shadow figures and the human sample's, over the report window."""

    task_type: str
    tier: str | None
    comparator: str
    enabled: bool
    rate: float | None
    budget_usd: Decimal | None
    agreed: int = 0
    disagreed: int = 0
    not_judged: int = 0
    failed: int = 0
    pending: int = 0
    skipped: int = 0
    shadow_cost: Decimal = ZERO
    judge_cost: Decimal = ZERO
    audited: int = 0
    audit_wrong: int = 0
    disagreements: list[dict[str, Any]] = field(default_factory=list)
    unjudged: list[dict[str, Any]] = field(default_factory=list)

    @property
    def compared(self) -> int:
        return self.agreed + self.disagreed

    @property
    def agreement_pct(self) -> float | None:
        return round(100.0 * self.agreed / self.compared, 1) if self.compared else None

    @property
    def interval_pct(self) -> tuple[float, float] | None:
        bounds = wilson(self.agreed, self.compared)
        return (round(100 * bounds[0], 1), round(100 * bounds[1], 1)) if bounds else None

    @property
    def shadow_recommendation(self) -> str:
        if self.compared < MIN_COMPARED:
            return NO_DATA
        return recommend(self.disagreed, self.compared)

    @property
    def human_recommendation(self) -> str:
        return recommend(self.audit_wrong, self.audited)

    @property
    def audit_wrong_pct(self) -> float | None:
        return round(100.0 * self.audit_wrong / self.audited, 1) if self.audited else None

    @property
    def recommendation(self) -> str:
        """The stricter of the two signals (a signal without data does not count)."""
        return max(self.human_recommendation, self.shadow_recommendation, key=SEVERITY.__getitem__)

    @property
    def spent(self) -> Decimal:
        return self.shadow_cost + self.judge_cost

    def to_dict(self) -> dict[str, Any]:
        interval = self.interval_pct
        return {
            "task_type": self.task_type, "tier": self.tier, "comparator": self.comparator,
            "enabled": self.enabled, "rate": self.rate,
            "monthly_budget_usd": float(self.budget_usd) if self.budget_usd is not None else None,
            "compared": self.compared, "agreed": self.agreed, "disagreed": self.disagreed,
            "not_judged": self.not_judged, "failed": self.failed, "pending": self.pending, "skipped": self.skipped,
            "agreement_pct": self.agreement_pct,
            "agreement_interval_pct": list(interval) if interval else None,
            "shadow_cost_usd": _usd(self.shadow_cost), "judge_cost_usd": _usd(self.judge_cost),
            "audited": self.audited, "audit_wrong": self.audit_wrong, "audit_wrong_pct": self.audit_wrong_pct,
            "shadow_recommendation": self.shadow_recommendation, "human_recommendation": self.human_recommendation,
            "recommendation": self.recommendation, "recommendation_text": RECOMMENDATION_TEXT[self.recommendation],
            "disagreements": self.disagreements, "not_judged_items": self.unjudged,
        }


@dataclass
class ShadowReport:
    period: Period
    baseline_model: str
    classes: list[ClassShadow]

    @property
    def shadow_cost(self) -> Decimal:
        return sum((entry.shadow_cost for entry in self.classes), ZERO)

    @property
    def judge_cost(self) -> Decimal:
        return sum((entry.judge_cost for entry in self.classes), ZERO)

    def spend(self) -> dict[str, Any]:
        """The report's own line: what shadowing cost, never part of the saving."""
        return {"comparisons": sum(entry.compared + entry.not_judged + entry.failed for entry in self.classes),
                "shadow_cost_usd": _usd(self.shadow_cost), "judge_cost_usd": _usd(self.judge_cost),
                "cost_usd": _usd(self.shadow_cost + self.judge_cost)}

    def to_dict(self) -> dict[str, Any]:
        return {"period": {"from": _iso(self.period.start), "to": _iso(self.period.end)},
                "baseline_model": self.baseline_model,
                "thresholds": {"keep_below_pct": KEEP_BELOW_PCT, "move_up_above_pct": MOVE_UP_ABOVE_PCT,
                               "min_compared": MIN_COMPARED, "interval": "Wilson 95%"},
                "spend": self.spend(), "classes": [entry.to_dict() for entry in self.classes]}


def shadow_report(session: Session, policy: Policy, period: Period) -> ShadowReport:
    """Every task type with a shadow setting or shadow comparisons in the window."""
    classes: dict[str, ClassShadow] = {}

    def of(task_type: str) -> ClassShadow:
        if task_type not in classes:
            task = policy.task_types.get(task_type)
            spec = task.shadow if task else None
            classes[task_type] = ClassShadow(task_type, task.tier if task else None, choose(task),
                                             bool(spec and spec.enabled), spec.rate if spec else None,
                                             spec.monthly_budget_usd if spec else None)
        return classes[task_type]

    for name, task in policy.task_types.items():
        if task.shadow is not None and task.shadow.enabled:
            of(name)
    rows = session.scalars(_window(select(ShadowComparison), ShadowComparison.created_at, period)
                           .order_by(ShadowComparison.created_at, ShadowComparison.id))
    for row in rows:
        entry = of(row.task_type)
        entry.shadow_cost += _money(row.shadow_cost_usd)
        entry.judge_cost += _money(row.judge_cost_usd)
        if row.status == AGREE:
            entry.agreed += 1
        elif row.status == DISAGREE:
            entry.disagreed += 1
            entry.disagreements.append(comparison_item(row))
        elif row.status == NOT_JUDGED:
            entry.not_judged += 1
            entry.unjudged.append(comparison_item(row))
        elif row.status == FAILED:
            entry.failed += 1
        elif row.status == QUEUED:
            entry.pending += 1
        else:
            entry.skipped += 1
    audits = _window(select(Review.task_type, func.count(), func.sum(_wrong()))
                     .where(Review.kind == "audit", Review.audit_month.is_not(None), Review.audit_correct.is_not(None))
                     .group_by(Review.task_type), Review.created_at, period)
    for task_type, marked, wrong in session.execute(audits):
        if task_type in classes:
            classes[task_type].audited, classes[task_type].audit_wrong = int(marked), int(wrong or 0)
    ordered = sorted(classes.values(), key=lambda entry: (-entry.compared, entry.task_type))
    return ShadowReport(period, policy.baseline_model, ordered)


def comparison_item(row: ShadowComparison) -> dict[str, Any]:
    """One comparison as a person checks it: the input, both answers and the reason."""
    return {"comparison_id": row.id, "request_id": row.request_id, "item_index": row.item_index,
            "created_at": _iso(row.created_at),
            "input": row.input_text, "answer": row.answer_text, "answer_model": row.answer_model,
            "baseline_answer": row.baseline_text, "baseline_model": row.baseline_model,
            "verdict": row.status, "reason": row.reason, "judge_model": row.judge_model, "review_id": row.review_id}


def _wrong():
    return case((Review.audit_correct.is_(False), 1), else_=0)


def _window(statement, column, period: Period):
    if period.start is not None:
        statement = statement.where(column >= period.start)
    if period.end is not None:
        statement = statement.where(column < period.end)
    return statement


def _money(value) -> Decimal:
    return ZERO if value is None else Decimal(str(value))


def _usd(amount: Decimal) -> float:
    return float(amount.quantize(MONEY_PLACES))


def _iso(moment) -> str | None:
    return moment.isoformat() if moment else None
