"""Quality per task class: what each class costs, how often the cheap tier was not enough, and what to change.

Definitions (each figure is per task type over the report window):

- cost per request: the class's attempt costs / its requests.
- escalation rate: requests answered by a higher tier than they started on / requests (a request that
  failed on every tier is counted as failed, not escalated). Health bands from the field: under 20%
  good, 20-60% normal, over 60% the class should start one tier higher (it pays for the cheap try and
  the escalation on most requests).
- format success rate: of the *task attempts* (every model answer to the task itself: purposes answer,
  retry and escalation; router calls, self-checks and calls the provider failed excluded), the share
  that passed every format gate (non_empty, length, regex, json, schema, label_in_set). A failure of a later, semantic gate
  (confidence, self_check) is not a format failure. Target: at least 98%.
- review rate: requests that needed a person / requests.
- correction minutes: ``minutes_spent`` the reviewers entered on decided reviews of the class.
- audit wrong rate: sampled tier-1 answers marked wrong / sampled answers marked; under 5% keep,
  5-10% adjust the prompt and add examples, over 10% move the class up a tier (docs/architecture.md, "Review queue").
- p50 / p95 latency: nearest-rank percentiles of the requests' end-to-end ``latency_ms``.

Requests are tasks (fallback and classify); the ledger rows of ``/v1/route`` router calls only add
their cost to the class.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from app.policy import Policy
from app.reports.attribution import ZERO, round_money
from app.reports.ledger import OVERHEAD_KINDS, SavingsReport, in_period, savings_report
from app.reports.period import Period
from app.store import SHADOW_KIND, Attempt, Request, Review

ESCALATION_GOOD_BELOW_PCT = 20.0
ESCALATION_START_HIGHER_ABOVE_PCT = 60.0
FORMAT_SUCCESS_TARGET_PCT = 98.0
AUDIT_KEEP_BELOW_PCT = 5.0
AUDIT_MOVE_UP_ABOVE_PCT = 10.0
# A class needs this many requests in the window before the report suggests moving it.
MIN_REQUESTS_FOR_SUGGESTION = 5
FORMAT_GATES = ("non_empty", "length", "regex", "json", "schema", "label_in_set")
TASK_PURPOSES = ("answer", "retry", "escalation")
PROVIDER_FAILURE = "provider"  # the cascade's gate name for a call the provider failed
NOT_TASKS = (*OVERHEAD_KINDS, SHADOW_KIND)  # ledger rows that are not requests of a class


@dataclass
class ClassQuality:
    task_type: str
    tier: str | None
    requests: int = 0
    cost: Decimal = ZERO
    baseline: Decimal = ZERO
    escalated: int = 0
    failed: int = 0
    needs_review: int = 0
    task_attempts: int = 0
    format_failures: int = 0
    reviews_decided: int = 0
    correction_minutes: float = 0.0
    audited: int = 0
    audit_wrong: int = 0
    latencies: list[float] = field(default_factory=list, repr=False)

    @property
    def cost_per_request(self) -> Decimal:
        return self.cost / self.requests if self.requests else ZERO

    @property
    def escalation_pct(self) -> float:
        return _pct(self.escalated, self.requests)

    @property
    def escalation_band(self) -> str:
        return escalation_band(self.escalation_pct)

    @property
    def format_success_pct(self) -> float | None:
        return _pct(self.task_attempts - self.format_failures, self.task_attempts) if self.task_attempts else None

    @property
    def review_pct(self) -> float:
        return _pct(self.needs_review, self.requests)

    @property
    def audit_wrong_pct(self) -> float | None:
        return _pct(self.audit_wrong, self.audited) if self.audited else None

    @property
    def audit_recommendation(self) -> str | None:
        wrong = self.audit_wrong_pct
        if wrong is None:
            return None
        if wrong < AUDIT_KEEP_BELOW_PCT:
            return "keep"
        return "adjust_prompt" if wrong <= AUDIT_MOVE_UP_ABOVE_PCT else "move_up"

    @property
    def p50_ms(self) -> float | None:
        return percentile(self.latencies, 50)

    @property
    def p95_ms(self) -> float | None:
        return percentile(self.latencies, 95)


@dataclass(frozen=True)
class Suggestion:
    task_type: str
    escalation_pct: float
    requests: int
    from_tier: str | None
    to_tier: str | None
    always: bool

    @property
    def message(self) -> str:
        how = "always escalates" if self.always else f"escalates on {self.escalation_pct:.0f}% of requests"
        if self.to_tier:
            return f"{self.task_type} {how}: start it one tier higher ({self.from_tier} -> {self.to_tier}) in the policy."
        return f"{self.task_type} {how} and already starts on the top tier: review its gates and prompt."


@dataclass
class QualityReport:
    period: Period
    classes: list[ClassQuality]
    suggestions: list[Suggestion]
    savings: SavingsReport


def _pct(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def escalation_band(pct: float) -> str:
    """``good`` under 20%, ``normal`` 20-60%, ``start_higher`` over 60%."""
    if pct < ESCALATION_GOOD_BELOW_PCT:
        return "good"
    return "normal" if pct <= ESCALATION_START_HIGHER_ABOVE_PCT else "start_higher"


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile (a value that was actually observed), or None without values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return round(ordered[rank - 1], 1)


def _count(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def quality_report(session: Session, policy: Policy, period: Period) -> QualityReport:
    """Per-class quality figures and the classes that should start one tier higher."""
    savings = savings_report(session, policy, period, "task_type")
    classes: dict[str, ClassQuality] = {}

    def of(task_type: str) -> ClassQuality:
        if task_type not in classes:
            spec = policy.task_types.get(task_type)
            classes[task_type] = ClassQuality(task_type, spec.tier if spec else None)
        return classes[task_type]

    for group in savings.groups:
        entry = of(group.key)
        entry.cost, entry.baseline = group.cost, group.baseline

    # A request that failed on every tier was not answered by a higher tier: it is failed, not escalated.
    failed = Request.status == "failed"
    requests = in_period(select(Request.task_type, func.count(Request.id),
                                _count(Request.escalated.is_(True) & ~failed), _count(Request.needs_review.is_(True)),
                                _count(failed))
                         .where(Request.kind.not_in(NOT_TASKS)).group_by(Request.task_type), period)
    for task_type, count, escalated, needs_review, failures in session.execute(requests):
        entry = of(task_type)
        entry.requests, entry.escalated, entry.needs_review = count, int(escalated), int(needs_review)
        entry.failed = int(failures)

    format_failed = Attempt.ok.is_(False) & Attempt.gate.in_(FORMAT_GATES)
    answered = Attempt.gate.is_(None) | (Attempt.gate != PROVIDER_FAILURE)
    attempts = in_period(select(Request.task_type, func.count(Attempt.id), _count(format_failed))
                         .join(Request, Attempt.request_id == Request.id)
                         .where(Attempt.purpose.in_(TASK_PURPOSES), answered).group_by(Request.task_type), period)
    for task_type, count, failures in session.execute(attempts):
        entry = of(task_type)
        entry.task_attempts, entry.format_failures = count, int(failures)

    latencies = in_period(select(Request.task_type, Request.latency_ms)
                          .where(Request.latency_ms.is_not(None), Request.kind.not_in(NOT_TASKS)), period)
    by_class: dict[str, list[float]] = defaultdict(list)
    for task_type, latency in session.execute(latencies):
        by_class[task_type].append(float(latency))
    for task_type, values in by_class.items():
        of(task_type).latencies = values

    _add_reviews(session, period, of)
    ordered = sorted(classes.values(), key=lambda entry: (-entry.requests, entry.task_type))
    return QualityReport(period=period, classes=ordered, suggestions=suggestions(policy, ordered), savings=savings)


def _add_reviews(session: Session, period: Period, of) -> None:
    decided = Review.status != "pending"
    statement = select(Review.task_type, _count(decided), func.sum(case((decided, Review.minutes_spent), else_=None)),
                       # Sampled audit items only: shadow disagreements sent for review carry no audit month.
                       _count(Review.audit_correct.is_not(None) & Review.audit_month.is_not(None)),
                       _count(Review.audit_correct.is_(False) & Review.audit_month.is_not(None)))
    if period.start is not None:
        statement = statement.where(Review.created_at >= period.start)
    if period.end is not None:
        statement = statement.where(Review.created_at < period.end)
    for task_type, reviews, minutes, audited, wrong in session.execute(statement.group_by(Review.task_type)):
        entry = of(task_type)
        entry.reviews_decided, entry.correction_minutes = int(reviews), float(minutes or 0)
        entry.audited, entry.audit_wrong = int(audited), int(wrong)


def suggestions(policy: Policy, classes: list[ClassQuality]) -> list[Suggestion]:
    """Classes escalating on more than 60% of their requests, with the tier to start them on."""
    found = []
    for entry in classes:
        if entry.requests < MIN_REQUESTS_FOR_SUGGESTION or entry.escalation_band != "start_higher":
            continue
        start = entry.tier or policy.rules.unknown_task_tier
        found.append(Suggestion(entry.task_type, entry.escalation_pct, entry.requests, start, policy.next_tier(start),
                                always=entry.escalated == entry.requests))
    return sorted(found, key=lambda item: -item.escalation_pct)


def class_row(entry: ClassQuality) -> dict:
    """One class as the API and CSV show it."""
    return {
        "task_type": entry.task_type,
        "tier": entry.tier,
        "requests": entry.requests,
        "cost_usd": round_money(entry.cost),
        "baseline_cost_usd": round_money(entry.baseline),
        "cost_per_request_usd": round_money(entry.cost_per_request),
        "escalation_pct": entry.escalation_pct,
        "escalation_band": entry.escalation_band,
        "failed": entry.failed,
        "format_success_pct": entry.format_success_pct,
        "format_target_met": None if entry.format_success_pct is None else entry.format_success_pct >= FORMAT_SUCCESS_TARGET_PCT,
        "review_pct": entry.review_pct,
        "reviews_decided": entry.reviews_decided,
        "correction_minutes": round(entry.correction_minutes, 1),
        "audited": entry.audited,
        "audit_wrong_pct": entry.audit_wrong_pct,
        "audit_recommendation": entry.audit_recommendation,
        "latency_p50_ms": entry.p50_ms,
        "latency_p95_ms": entry.p95_ms,
    }
