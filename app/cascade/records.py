"""What a cascade run leaves behind: one ``AttemptRecord`` per model call and the ``CascadeResult``.

Money stays ``Decimal`` here and becomes floats only in ``to_dict`` (the API's JSON), so the ledger
sums to the cent.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from app.pricing import Usage, usd

from app.calls.attempt import ANSWER, ESCALATION, RETRY, SELF_CHECK, AttemptRecord

__all__ = ["ANSWER", "ESCALATION", "RETRY", "SELF_CHECK", "AttemptRecord", "CascadeResult"]


@dataclass
class CascadeResult:
    """The outcome of one cascade run; ``to_dict`` gives the contract's ``/v1/fallback`` fields."""

    task_type: str
    status: str  # done | needs_review | failed
    output: Any
    tier: str | None
    model: str | None
    start_tier: str
    escalated: bool
    needs_review: bool
    review_reasons: list[str]
    attempts: list[AttemptRecord]
    review_details: list[dict[str, str]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    dry_run: bool = False
    estimated_cost_usd: Decimal | None = None
    error: str | None = None
    # Why a run without an answer stopped: budget, provider_unavailable, spend_cap, top_tier_failed, ...
    stop_rule: str | None = None

    @property
    def cost_usd(self) -> Decimal:
        return sum((attempt.cost_usd for attempt in self.attempts), Decimal(0))

    @property
    def baseline_cost_usd(self) -> Decimal:
        return sum((attempt.baseline_cost_usd for attempt in self.attempts), Decimal(0))

    @property
    def saving_usd(self) -> Decimal:
        return self.baseline_cost_usd - self.cost_usd

    @property
    def usage(self) -> Usage:
        return sum((attempt.usage for attempt in self.attempts), Usage())

    @property
    def latency_ms(self) -> float:
        return sum(attempt.latency_ms for attempt in self.attempts)

    def to_dict(self) -> dict[str, Any]:
        data = {
            "status": self.status, "task_type": self.task_type, "output": self.output, "tier": self.tier,
            "model": self.model, "escalated": self.escalated, "needs_review": self.needs_review,
            "review_reasons": list(self.review_reasons),
            "review_details": list(self.review_details), "attempts": [a.to_dict() for a in self.attempts],
            "skipped": list(self.skipped), "cost_usd": usd(self.cost_usd),
            "baseline_cost_usd": usd(self.baseline_cost_usd), "saving_usd": usd(self.saving_usd),
            "dry_run": self.dry_run,
        }
        if self.estimated_cost_usd is not None:
            data["estimated_cost_usd"] = usd(self.estimated_cost_usd)
        if self.error:
            data["error"] = self.error
        if self.stop_rule and self.status == "failed":
            data["stop_rule"] = self.stop_rule
        return data
