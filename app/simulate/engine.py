"""Replaying a request log through the policy and the cost function, with no model call.

Before: each request at the plain price (no cache, no batch) of the model it ran on (the baseline
model when the log does not say). After: the tier the rules router picks (the same ``RulesRouter`` as
``/v1/route``, so the upgrade rules apply), priced by ``PriceTable.cost`` with

- prompt caching: the ``cached_prefix_tokens`` of a request are written to the cache the first time a
  prefix (same model, task type, size, batch or not) is seen, and read afterwards while the cache is
  warm. With timestamps, a prefix goes cold five minutes after its last use; without, the rows are
  taken to be close enough in time (the log says the prefix is reused within five minutes). A prefix
  shorter than the model's minimum cacheable length is billed as plain input.
- batch: a request marked ``urgent: false`` goes through the batch API at the batch multiplier.
- escalation (optional ``escalation_rate``): that share of the requests of each class on a non-top tier pays
  the cheap try as overhead and is answered one tier up, with the cheap answer added to its input as
  the hint. Chosen deterministically per class (error diffusion), so a run is repeatable.

A row of a ledger export (``app.reports.requests``) is priced as the ledger priced it: on the tier it
ran on (the policy's model for that tier, at the policy's prices), with its recorded cache reads and
5-minute and 1-hour writes, its batch flag, and its recorded overhead (router calls, retries,
escalations, self-checks, re-runs) added to the after cost; its before cost is its tokens at the
baseline prices recorded with it. Replaying an export under the policy it ran on gives the ledger's
totals; the assumed ``escalation_rate`` applies only to rows without a recorded tier.

The saving is split into the same levers as the ledger report (``app.reports.attribution``), with the
request's "before" cost in the role of the baseline, so routing + caching + batch - overhead equals
before - after exactly.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from app.errors import TiergateError
from app.policy import Policy
from app.pricing import TOKENS_PER_PRICE_UNIT, Usage
from app.reports.attribution import ZERO, Levers, answer_levers, saving_pct
from app.routing import RouteInput, RulesRouter
from app.simulate.log import LogRow

CACHE_TTL = timedelta(minutes=5)
# The smallest prefix the provider caches, by model, is the price table's ``min_cache_tokens``.
MONTHS_PER_YEAR = 12
HALF = Decimal("0.5")


class SimulationError(TiergateError):
    """The log names something the policy cannot price (e.g. an unknown model)."""


@dataclass
class TierFigures:
    tier: str
    model: str
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    batch_requests: int = 0
    escalated_in: int = 0
    before: Decimal = ZERO
    after: Decimal = ZERO

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_write_tokens

    def count(self, usage: Usage) -> None:
        self.input_tokens += usage.input_tokens
        self.output_tokens += usage.output_tokens
        self.cache_read_tokens += usage.cache_read_tokens
        self.cache_write_tokens += usage.cache_write_tokens


@dataclass
class Simulation:
    """The before/after figures of a log; money in exact Decimal."""

    baseline_model: str
    months: Decimal
    setup_cost: Decimal | None
    escalation_rate: Decimal
    requests: int = 0
    tokens: int = 0
    before: Decimal = ZERO
    after: Decimal = ZERO
    levers: Levers = field(default_factory=Levers)
    by_tier: dict[str, TierFigures] = field(default_factory=dict)
    before_by_model: dict[str, list] = field(default_factory=dict)  # model -> [requests, tokens, cost]
    escalated: int = 0

    @property
    def saving(self) -> Decimal:
        return self.before - self.after

    @property
    def saving_pct(self) -> Decimal:
        return saving_pct(self.after, self.before)

    def lever_pct(self, amount: Decimal) -> Decimal:
        return saving_pct(self.before - amount, self.before)

    @property
    def monthly_saving(self) -> Decimal:
        return self.saving / self.months

    @property
    def payback_months(self) -> Decimal | None:
        if self.setup_cost is None or self.monthly_saving <= 0:
            return None
        return self.setup_cost / self.monthly_saving


class _Cache:
    """Which prefixes are warm: key -> last use."""

    def __init__(self):
        self.last_use: dict[tuple, datetime | None] = {}

    def hit(self, key: tuple, when: datetime | None) -> bool:
        warm = key in self.last_use
        previous = self.last_use.get(key)
        if warm and when is not None and previous is not None and when - previous > CACHE_TTL:
            warm = False
        self.last_use[key] = when
        return warm


def simulate(rows: list[LogRow], policy: Policy, *, months: Decimal | float | int = 1,
             setup_cost: Decimal | None = None, escalation_rate: Decimal | float = 0) -> Simulation:
    """Before/after cost of ``rows`` under ``policy``; ``months`` is the time the log covers."""
    router, prices = RulesRouter(policy), policy.prices
    result = Simulation(baseline_model=policy.baseline_model, months=Decimal(str(months)), setup_cost=setup_cost,
                        escalation_rate=Decimal(str(escalation_rate)))
    for tier, spec in policy.tiers.items():
        result.by_tier[tier] = TierFigures(tier, spec.model)
    cache, diffusion = _Cache(), {}

    def price(tier: str, row: LogRow, extra_input: int, batch: bool) -> tuple[Usage, Decimal]:
        model = policy.model_for(tier)
        prefix = row.cached_prefix_tokens
        if row.recorded_cache:
            writes = row.cache_write_5m_tokens + row.cache_write_1h_tokens
            usage = Usage(row.input_tokens - row.cache_read_tokens - writes + extra_input, row.output_tokens,
                          cache_write_tokens=writes, cache_read_tokens=row.cache_read_tokens,
                          cache_write_1h_tokens=row.cache_write_1h_tokens)
        elif prefix and prices.cacheable(model, prefix):
            warm = cache.hit((model, row.task_type, prefix, batch), row.timestamp)
            usage = Usage(row.input_tokens - prefix + extra_input, row.output_tokens,
                          cache_write_tokens=0 if warm else prefix, cache_read_tokens=prefix if warm else 0)
        else:
            usage = Usage(row.input_tokens + extra_input, row.output_tokens)
        return usage, prices.cost(model, usage, batch=batch)

    for row in rows:
        before_model, before = _before(row, policy)
        batch, hint = row.batch if row.batch is not None else row.urgent is False, 0
        if row.tier is not None:  # a ledger row: replayed on the tier it ran on, its escalations in its overhead
            if row.tier not in policy.tiers:
                raise SimulationError(f"line {row.line}: tier {row.tier!r} is not in the policy; replay with the "
                                      f"policy the ledger ran on, or leave the column empty to route the row")
            tier, escalates = row.tier, False
        else:
            decision = router.decide(RouteInput(text=row.text or "", task_type=row.task_type,
                                                input_tokens=row.input_tokens))
            tier = decision.tier
            escalates = policy.next_tier(tier) is not None and _escalates(diffusion, (tier, decision.task_type),
                                                                           result.escalation_rate)
        if escalates:
            next_tier = policy.next_tier(tier)
            # The cheap try is paid and thrown away; its answer goes up as the hint.
            usage, cost = price(tier, row, 0, batch)
            result.by_tier[tier].count(usage)
            result.by_tier[tier].after += cost
            result.levers = result.levers + Levers(overhead=cost)
            result.after += cost
            result.escalated += 1
            result.by_tier[next_tier].escalated_in += 1
            tier, hint = next_tier, row.output_tokens
        figures = result.by_tier[tier]
        if row.overhead_usd:  # recorded overhead: paid as recorded
            figures.after += row.overhead_usd
            result.levers = result.levers + Levers(overhead=row.overhead_usd)
            result.after += row.overhead_usd
        if not row.is_task:
            continue
        usage, cost = price(tier, row, hint, batch) if not row.dry_run else (Usage(), ZERO)
        figures.requests += 1
        figures.batch_requests += batch
        figures.count(usage)
        figures.before += before
        figures.after += cost
        model = policy.model_for(tier)
        result.levers = result.levers + answer_levers(prices, model, usage, cost, before, batch=batch)
        result.requests += 1
        result.tokens += row.input_tokens + row.output_tokens
        result.before += before
        result.after += cost
        entry = result.before_by_model.setdefault(before_model, [0, 0, ZERO])
        entry[0] += 1
        entry[1] += row.input_tokens + row.output_tokens
        entry[2] += before
    return result


def _before(row: LogRow, policy: Policy) -> tuple[str, Decimal]:
    """The row's model before Tiergate and what it cost there at plain price (nothing for a dry run).

    A ledger row carries its baseline's prices as recorded; a plain log row is priced from the policy.
    """
    if row.baseline_input_price is not None and row.baseline_output_price is not None:
        amount = (row.input_tokens * row.baseline_input_price
                  + row.output_tokens * row.baseline_output_price) / TOKENS_PER_PRICE_UNIT
        return row.baseline_model or policy.baseline_model, ZERO if row.dry_run else amount
    model = row.model or row.baseline_model or policy.baseline_model
    try:
        amount = policy.prices.plain_cost(model, Usage(row.input_tokens, row.output_tokens))
    except KeyError:
        raise SimulationError(f"line {row.line}: model {model!r} has no price in the policy; add it under "
                              f"prices.models or leave the column empty for the baseline") from None
    return model, ZERO if row.dry_run else amount


def _escalates(diffusion: dict[tuple[str, str], Decimal], key: tuple[str, str], rate: Decimal) -> bool:
    """Every 1/rate-th request of a (tier, task type) escalates: n x rate rounded in every class, no randomness.

    The accumulator starts at one half, so a class of 63 requests at 1% still gets its one escalation.
    """
    if not rate:
        return False
    diffusion[key] = diffusion.get(key, HALF) + rate
    if diffusion[key] >= 1:
        diffusion[key] -= 1
        return True
    return False
