"""One model call as the ledger records it: an ``AttemptRecord``, and the purposes a call can serve.

Money stays ``Decimal`` here and becomes floats only in ``to_dict`` (the API's JSON), so the ledger
sums to the cent.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from app.pricing import Usage, usd

# Attempt purposes, as in app.store.models.Attempt.purpose.
ANSWER, RETRY, ESCALATION, SELF_CHECK = "answer", "retry", "escalation", "self_check"


@dataclass
class AttemptRecord:
    """One model call made for a request."""

    tier: str
    model: str
    provider: str
    purpose: str
    ok: bool = False
    gate: str | None = None
    reason: str | None = None
    gate_results: list[dict[str, Any]] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    cost_usd: Decimal = Decimal(0)
    baseline_cost_usd: Decimal = Decimal(0)
    latency_ms: float = 0.0
    output_text: str | None = None
    parsed: Any = None
    # The reply as content blocks when it holds tool calls, and why the model stopped (drop-in gateway).
    content: list[dict[str, Any]] | None = None
    stop_reason: str | None = None
    # Whose prompt-cache markers the call carried (app.pricing.CLIENT_MARKERS / OWN_MARKERS, or None):
    # the report's caching line counts only what Tiergate's own markers saved.
    cache_markers: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "tier": self.tier, "purpose": self.purpose, "ok": self.ok, "gate": self.gate,
            "reason": self.reason, "gates": self.gate_results,
            "input_tokens": self.usage.input_tokens, "output_tokens": self.usage.output_tokens,
            "cache_read_tokens": self.usage.cache_read_tokens, "cache_write_tokens": self.usage.cache_write_tokens,
            "cache_write_1h_tokens": self.usage.cache_write_1h_tokens,
            "cost_usd": usd(self.cost_usd), "latency_ms": round(self.latency_ms, 1),
            "stop_reason": self.stop_reason,
            **({"content": self.content} if self.content else {}),  # tool calls (drop-in gateway)
        }
