"""Does prompt caching apply to a task type, and when does it pay?

The provider caches a prefix only from the model's minimum length on (``ModelPrice.min_cache_tokens``).
A task type's stable prefix is its prompt plus its output schema (``app.cascade.prompts``), and the
caller's brand rules and knowledge snippets when it sends them. A prefix that reaches the minimum is
written once (1.25x input for 5 minutes, 2x for an hour) and read at 0.1x by every request within the
TTL. Against n plain requests (n x 1), the 5-minute TTL pays from the second request within five minutes
(1.25 + 0.1 < 2), the 1-hour TTL from the third within an hour (2 + 0.1 > 2, but 2 + 0.2 < 3).
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from app.cascade.prompts import cached_prefix
from app.policy.schema import Policy
from app.pricing import Usage
from app.providers.tokens import estimate_tokens


@dataclass(frozen=True)
class PrefixCheck:
    task_type: str
    tier: str
    model: str
    prefix_tokens: int
    minimum: int

    @property
    def cacheable(self) -> bool:
        return self.prefix_tokens >= self.minimum

    @property
    def missing(self) -> int:
        return max(0, self.minimum - self.prefix_tokens)

    def line(self) -> str:
        head = f"{self.task_type} ({self.tier}, {self.model}): stable prefix ~{self.prefix_tokens:,} tokens"
        if self.cacheable:
            return f"{head} >= {self.minimum:,}: cached"
        return (f"{head} < {self.minimum:,}: not cached; brand rules or knowledge of ~{self.missing:,} more tokens "
                "would make it cacheable")


def prefix_checks(policy: Policy) -> list[PrefixCheck]:
    """Per task type: does its own stable prefix (no caller snippets) reach its model's minimum?"""
    checks = []
    for name, task in policy.task_types.items():
        model = policy.model_for(task.tier)
        prefix = estimate_tokens(cached_prefix(task.prompt, task.output_schema, []))
        minimum = policy.prices.models[model].min_cache_tokens
        checks.append(PrefixCheck(name, task.tier, model, prefix, minimum))
    return checks


def cost_per_request(policy: Policy, model: str, prefix_tokens: int, input_tokens: int, output_tokens: int,
                     requests: int, *, cached: bool) -> Decimal:
    """Average cost of ``requests`` requests within one cache lifetime, with or without caching."""
    prices = policy.prices
    if not cached or not prices.cacheable(model, prefix_tokens):
        return prices.cost(model, Usage(prefix_tokens + input_tokens, output_tokens))
    first = prices.cost(model, Usage(input_tokens, output_tokens, cache_write_tokens=prefix_tokens))
    later = prices.cost(model, Usage(input_tokens, output_tokens, cache_read_tokens=prefix_tokens))
    return (first + later * (requests - 1)) / requests
