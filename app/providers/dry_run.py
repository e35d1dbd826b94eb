"""The provider used when no Anthropic key is configured: it never calls out.

Its answer says plainly that it is a dry run and carries the routing decision (tier, model) and the
estimated cost, so an operator can wire up a workflow end to end before paying for anything. It bills
nothing: the usage it returns is zero.
"""
from __future__ import annotations

import time
from decimal import Decimal

from app.pricing import PriceTable, Usage, usd
from app.providers.base import ModelCall, ModelReply, Provider, call_text

CHARS_PER_TOKEN = 4
DEFAULT_OUTPUT_RATIO = 0.25  # output tokens per input token when the task type names no estimate


class DryRunProvider(Provider):
    name = "dry_run"
    dry_run = True

    def __init__(self, prices: PriceTable | None = None):
        self.prices = prices

    @classmethod
    def from_spec(cls, spec, settings, policy) -> "DryRunProvider":
        return cls(policy.prices)

    def estimate(self, call: ModelCall) -> tuple[int, int, Decimal | None]:
        input_tokens = max(1, len(call_text(call)) // CHARS_PER_TOKEN)
        output_tokens = min(call.max_tokens, call.expected_output_tokens or max(1, int(input_tokens * DEFAULT_OUTPUT_RATIO)))
        cost = None
        if self.prices is not None and call.model in self.prices.models:
            cost = self.prices.cost(call.model, Usage(input_tokens=input_tokens, output_tokens=output_tokens))
        return input_tokens, output_tokens, cost

    def complete(self, call: ModelCall) -> ModelReply:
        started = time.perf_counter()
        input_tokens, output_tokens, cost = self.estimate(call)
        cost_text = f"${usd(cost):.6f}" if cost is not None else "unknown (no price for this model)"
        text = (f"DRY RUN: no model was called because no ANTHROPIC_API_KEY is configured. "
                f"Decision: {call.tier or 'tier?'} -> {call.model}. "
                f"Estimated cost: {cost_text} for about {input_tokens} input and {output_tokens} output tokens.")
        return ModelReply(text=text, usage=Usage(), latency_ms=(time.perf_counter() - started) * 1000,
                          model=call.model, stop_reason="dry_run", dry_run=True, estimated_cost_usd=cost)
