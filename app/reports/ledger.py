"""Savings from the request ledger, grouped by task type, month, API key or workflow.

The money comes from the attempts (every model call is one row with its cost and, for answers, its
baseline), summed in SQL per group, purpose, model and batch flag, then split into levers in Python
(see ``app.reports.attribution``). Request counts come from the requests table, so a request that
failed before any model call still counts; the ledger rows of LLM-router calls (kind ``route``) and of
reviewers' re-runs (kind ``rerun``) are not tasks, so their cost is counted (as overhead, under the
task's key and workflow, ``app.money.overhead``) but they are not. Plain
SQLAlchemy expressions, so the same queries run on SQLite and PostgreSQL; only the month expression
differs by dialect.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from app.policy import Policy
from app.pricing import Usage
from app.reports.attribution import MONEY_PLACES, ZERO, Levers, attempt_levers, round_money, saving_pct
from app.reports.period import Period
from app.store import SHADOW_KIND, ApiKey, Attempt, Request

GROUPINGS = ("task_type", "month", "api_key", "workflow")
ROUTE_ONLY_KIND = "route"
OVERHEAD_KINDS = ("route", "rerun")  # ledger rows that are overhead of a task, never a task
DEFAULT_GROUPING = "task_type"
NO_KEY = "(none)"


@dataclass
class Figures:
    """Requests, tokens and money of one group (or of the whole window)."""

    key: str
    label: str = ""
    requests: int = 0
    dry_run_requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost: Decimal = ZERO
    baseline: Decimal = ZERO
    levers: Levers = field(default_factory=Levers)

    @property
    def saving(self) -> Decimal:
        return self.baseline - self.cost

    @property
    def saving_pct(self) -> Decimal:
        return saving_pct(self.cost, self.baseline)

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_write_tokens

    def absorb(self, other: "Figures") -> None:
        for name in ("requests", "dry_run_requests", "input_tokens", "output_tokens", "cache_read_tokens",
                     "cache_write_tokens", "cost", "baseline"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.levers = self.levers + other.levers


@dataclass
class SavingsReport:
    period: Period
    group_by: str
    baseline_model: str
    total: Figures
    groups: list[Figures]
    # What the requests table says the window cost; differs from ``total.cost`` only if a writer
    # recorded a request's cost without its attempts. Shown as a warning, never silently merged.
    requests_cost: Decimal = ZERO
    # The baseline each task was measured against, as recorded when it was accepted: model -> tasks.
    # Requests from before baselines were recorded count under the policy's current baseline model.
    baselines: dict[str, int] = field(default_factory=dict)

    @property
    def baseline_label(self) -> str:
        """The baseline model(s) of the window, as recorded (not the policy's of today)."""
        return ", ".join(sorted(self.baselines)) or self.baseline_model

    @property
    def unattributed(self) -> Decimal:
        return self.requests_cost - self.total.cost


def month_key(column, dialect: str):
    """``YYYY-MM`` of a timestamp column (stored in UTC) on the given SQL dialect."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM")
    return func.strftime("%Y-%m", column)


def group_key(group_by: str, dialect: str):
    return {
        "task_type": lambda: Request.task_type,
        "month": lambda: month_key(Request.created_at, dialect),
        "api_key": lambda: Request.api_key_id,
        "workflow": lambda: Request.workflow,
    }[group_by]()


def in_period(statement: Select, period: Period) -> Select:
    if period.start is not None:
        statement = statement.where(Request.created_at >= period.start)
    if period.end is not None:
        statement = statement.where(Request.created_at < period.end)
    return statement


def _money(value) -> Decimal:
    return ZERO if value is None else value


def _flag_count(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def savings_report(session: Session, policy: Policy, period: Period, group_by: str = DEFAULT_GROUPING) -> SavingsReport:
    """Cost, baseline, saving and its levers for the window, per group and in total."""
    if group_by not in GROUPINGS:
        raise ValueError(f"group_by must be one of {', '.join(GROUPINGS)}")
    dialect = session.get_bind().dialect.name
    key = group_key(group_by, dialect).label("key")
    groups: dict[str, Figures] = {}

    def figures(raw) -> Figures:
        name = NO_KEY if raw is None else str(raw)
        if name not in groups:
            groups[name] = Figures(key=name)
        return groups[name]

    is_task = Request.kind.not_in(OVERHEAD_KINDS)
    # Shadow comparisons (kind ``shadow``) are reported on their own line (app.shadow.report), never in the saving.
    requests = in_period(select(key, _flag_count(is_task), _flag_count(is_task & Request.dry_run.is_(True)),
                                func.sum(Request.cost_usd)).where(Request.kind != SHADOW_KIND).group_by(key), period)
    requests_cost = ZERO
    for raw, count, dry_runs, cost in session.execute(requests):
        group = figures(raw)
        group.requests, group.dry_run_requests = int(count), int(dry_runs)
        requests_cost += _money(cost)

    attempts = in_period(
        select(key, Attempt.purpose, Attempt.model, Attempt.batch,
               func.sum(Attempt.input_tokens), func.sum(Attempt.output_tokens),
               func.sum(Attempt.cache_read_tokens), func.sum(Attempt.cache_write_tokens),
               func.sum(Attempt.cost_usd), func.sum(Attempt.baseline_cost_usd),
               func.sum(Attempt.cache_write_1h_tokens), Attempt.cache_markers)
        .join(Request, Attempt.request_id == Request.id).where(Request.kind != SHADOW_KIND)
        .group_by(key, Attempt.purpose, Attempt.model, Attempt.batch, Attempt.cache_markers), period)
    prices = policy.prices
    for row in session.execute(attempts):
        (raw, purpose, model, batch, tokens_in, tokens_out, cache_read, cache_write, cost, baseline, write_1h,
         markers) = row
        group = figures(raw)
        usage = Usage(int(tokens_in or 0), int(tokens_out or 0), int(cache_write or 0), int(cache_read or 0),
                      int(write_1h or 0))
        cost, baseline = _money(cost), _money(baseline)
        group.input_tokens += usage.input_tokens
        group.output_tokens += usage.output_tokens
        group.cache_read_tokens += usage.cache_read_tokens
        group.cache_write_tokens += usage.cache_write_tokens
        group.cost += cost
        group.baseline += baseline
        group.levers = group.levers + attempt_levers(prices, purpose, model, usage, cost, baseline,
                                                     batch=bool(batch), cache_markers=markers)

    if group_by == "api_key":
        names = dict(session.execute(select(ApiKey.id, ApiKey.name)).all())
        for group in groups.values():
            group.label = names.get(int(group.key), "") if group.key != NO_KEY else "no key"
    ordered = sorted(groups.values(), key=lambda group: group.key if group_by == "month" else (-group.baseline, group.key))
    total = Figures(key="total", label="total")
    for group in ordered:
        total.absorb(group)
    baselines: dict[str, int] = {}
    recorded = in_period(select(Request.baseline_model, func.count()).where(is_task, Request.kind != SHADOW_KIND)
                         .group_by(Request.baseline_model), period)
    for model, count in session.execute(recorded):
        baselines[model or policy.baseline_model] = baselines.get(model or policy.baseline_model, 0) + int(count)
    return SavingsReport(period=period, group_by=group_by, baseline_model=policy.baseline_model, total=total,
                         groups=ordered, requests_cost=requests_cost, baselines=baselines)


def shown_money(figures: Figures, places: Decimal = MONEY_PLACES) -> tuple[Decimal, Decimal, Decimal]:
    """Cost, baseline and saving as shown: rounded, with saving = baseline - cost still exact."""
    cost, baseline = round_money(figures.cost, places), round_money(figures.baseline, places)
    return cost, baseline, baseline - cost
