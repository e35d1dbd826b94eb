"""The per-request ledger: one row per task with everything the savings simulator prices.

A row carries the task (type, the tier it started on and the tier and model that answered, batch or
not), the baseline it was measured against as recorded when it was accepted (model and USD per million
tokens), the answer's tokens split the way the provider bills them, what the answer cost, and what the
task paid besides: router calls, retries, escalations not kept, self-checks and reviewers' re-runs
(``overhead_usd``, also one column per kind), and the shadow and judge calls (their own columns, never
in the saving, as in the savings report).

``input_tokens`` is *all* input, cached or not, as in the simulator's log format (``app.simulate.log``);
the cache read and write columns are parts of it. Router calls and re-runs linked to a task are folded
into its row; one with no task in the window (a ``/v1/route`` call in llm mode) is a row of its own of
kind ``route``, with overhead only. Summed over the rows, ``cost_usd + overhead_usd`` is the savings
report's cost and ``baseline_cost_usd`` its baseline, for the same window.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.policy import Policy
from app.reports.attribution import ANSWER, OVERHEAD_PURPOSES, ZERO
from app.reports.ledger import OVERHEAD_KINDS, in_period
from app.reports.period import Period
from app.store import SHADOW_KIND, Attempt, Decision, Request, ShadowComparison

OVERHEAD_COLUMNS = tuple(f"{purpose}_usd" for purpose in OVERHEAD_PURPOSES)
REQUEST_COLUMNS = ("request_id", "created_at", "kind", "status", "task_type", "start_tier", "tier", "answer_model",
                   "batch", "dry_run", "escalated", "api_key_id", "workflow",
                   "baseline_model", "baseline_input_price", "baseline_output_price",
                   "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_5m_tokens",
                   "cache_write_1h_tokens", "cost_usd", "baseline_cost_usd", *OVERHEAD_COLUMNS, "overhead_usd",
                   "total_cost_usd", "shadow_usd", "judge_usd")

# The request columns a row needs (not the payload or the answer, which can be large).
LEDGER_FIELDS = (Request.id, Request.created_at, Request.kind, Request.status, Request.task_type, Request.tier,
                 Request.model, Request.batch, Request.dry_run, Request.escalated, Request.api_key_id, Request.workflow,
                 Request.baseline_model, Request.baseline_input_price, Request.baseline_output_price,
                 Request.parent_request_id)


@dataclass
class RequestLine:
    """One task of the ledger with its answer, its overhead and its shadow spend."""

    request: Any  # a row of LEDGER_FIELDS
    start_tier: str | None
    input_tokens: int = 0  # all input: uncached + cache reads + cache writes
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    batch: bool = False
    cost: Decimal = ZERO
    baseline: Decimal = ZERO
    overhead: dict[str, Decimal] = field(default_factory=lambda: {purpose: ZERO for purpose in OVERHEAD_PURPOSES})
    shadow: Decimal = ZERO
    judge: Decimal = ZERO

    @property
    def overhead_usd(self) -> Decimal:
        return sum(self.overhead.values(), ZERO)

    def add(self, purpose: str, batch: bool, tokens: tuple[int, int, int, int, int], cost: Decimal,
            baseline: Decimal) -> None:
        """Attempts of one purpose (summed): the answer's tokens and money, or overhead."""
        if purpose != ANSWER:
            self.overhead[purpose] = self.overhead.get(purpose, ZERO) + cost - baseline
            return
        uncached, output, read, write, write_1h = tokens
        self.input_tokens += uncached + read + write
        self.output_tokens += output
        self.cache_read_tokens += read
        self.cache_write_5m_tokens += write - write_1h
        self.cache_write_1h_tokens += write_1h
        self.batch = self.batch or batch
        self.cost += cost
        self.baseline += baseline

    def as_row(self) -> dict[str, Any]:
        row = self.request
        return {
            "request_id": row.id, "created_at": row.created_at.isoformat(), "kind": row.kind, "status": row.status,
            "task_type": row.task_type, "start_tier": self.start_tier or row.tier, "tier": row.tier,
            "answer_model": row.model, "batch": self.batch or bool(row.batch), "dry_run": bool(row.dry_run),
            "escalated": bool(row.escalated), "api_key_id": row.api_key_id, "workflow": row.workflow,
            "baseline_model": row.baseline_model, "baseline_input_price": row.baseline_input_price,
            "baseline_output_price": row.baseline_output_price,
            "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens, "cache_write_5m_tokens": self.cache_write_5m_tokens,
            "cache_write_1h_tokens": self.cache_write_1h_tokens, "cost_usd": self.cost,
            "baseline_cost_usd": self.baseline,
            **{f"{purpose}_usd": amount for purpose, amount in self.overhead.items()},
            "overhead_usd": self.overhead_usd, "total_cost_usd": self.cost + self.overhead_usd,
            "shadow_usd": self.shadow, "judge_usd": self.judge,
        }


def request_lines(session: Session, period: Period) -> list[RequestLine]:
    """Every task of the window (and every overhead row with no task in it), oldest first."""
    rows = session.execute(in_period(select(*LEDGER_FIELDS, Decision.tier.label("start_tier"))
                                     .outerjoin(Decision, Request.decision_id == Decision.id)
                                     .where(Request.kind != SHADOW_KIND), period)
                           .order_by(Request.created_at, Request.id)).all()
    lines = {row.id: RequestLine(row, row.start_tier) for row in rows}
    owner = {row.id: (row.parent_request_id if row.kind in OVERHEAD_KINDS and row.parent_request_id in lines
                      else row.id) for row in rows}
    attempts = in_period(
        select(Attempt.request_id, Attempt.purpose, Attempt.batch, func.sum(Attempt.input_tokens),
               func.sum(Attempt.output_tokens), func.sum(Attempt.cache_read_tokens),
               func.sum(Attempt.cache_write_tokens), func.sum(Attempt.cache_write_1h_tokens),
               func.sum(Attempt.cost_usd), func.sum(Attempt.baseline_cost_usd))
        .join(Request, Attempt.request_id == Request.id).where(Request.kind != SHADOW_KIND)
        .group_by(Attempt.request_id, Attempt.purpose, Attempt.batch), period)
    for request_id, purpose, batch, *tokens, cost, baseline in session.execute(attempts):
        lines[owner[request_id]].add(purpose, bool(batch), tuple(int(count or 0) for count in tokens),
                                     cost or ZERO, baseline or ZERO)
    shadows = in_period(select(ShadowComparison.request_id, func.sum(ShadowComparison.shadow_cost_usd),
                               func.sum(ShadowComparison.judge_cost_usd))
                        .join(Request, ShadowComparison.request_id == Request.id)
                        .group_by(ShadowComparison.request_id), period)
    for request_id, shadow, judge in session.execute(shadows):
        lines[request_id].shadow, lines[request_id].judge = shadow or ZERO, judge or ZERO
    return [line for line in lines.values() if owner[line.request.id] == line.request.id]


def ledger_totals(lines: list[RequestLine]) -> dict[str, Decimal]:
    """What the rows add up to: the savings report's cost and baseline, and the shadow line's spend."""
    return {"cost_usd": sum((line.cost + line.overhead_usd for line in lines), ZERO),
            "baseline_cost_usd": sum((line.baseline for line in lines), ZERO),
            "overhead_usd": sum((line.overhead_usd for line in lines), ZERO),
            "shadow_usd": sum((line.shadow for line in lines), ZERO),
            "judge_usd": sum((line.judge for line in lines), ZERO)}
