"""Where a saving comes from: routing, prompt caching and batch, minus the overheads.

For every *answer* attempt (the call whose output was returned) with model M, tokens U, batch flag,
the ledger's recorded baseline B (U at the baseline model's plain price, as priced when the call was
settled) and recorded cost C:

    caching  = plain(M, U) - price(M, U)        cache reads (and writes) instead of full input
    batch    = C / m - C   for a batch call     the batch discount on what was actually billed (m: the
               0           for any other call     price table's batch multiplier)
    routing  = B - C - caching - batch          the tier choice: the rest of the saving

where ``plain`` ignores cache and batch and ``price`` counts the cache but no batch discount. The three
terms add up to ``B - C`` by construction. The caching line is what Tiergate's own cache markers saved:
an answer whose markers were the client's (a drop-in client caching its own prompt) records a baseline
with that cache counted, which the client has calling the provider directly too, so for it caching = 0
and the cache's effect stays out of the saving. Every other attempt (router call, retry, escalation not
kept, self-check) is overhead: its cost (less any baseline it carries, normally none) eats into the
saving. Summed over a ledger,

    saving = sum(B) - sum(C) = routing + caching + batch - overhead        exactly, in Decimal.

Prices are linear in tokens, so the terms may be computed from token sums per (model, batch) as well
as per attempt. The recorded cost and baseline are the truth; only the caching term reads the current
price table (it is zero for calls without cache tokens), so a price change after the fact moves money
between routing and caching at most, never into batch for a call that did not use the batch API, and
never changes the total. A model with no price any more has no caching term.

Money stays in Decimal until it is shown: ``rounded`` rounds a set of levers (largest remainder) so
the identity still holds exactly at the shown precision, micro-dollars in the API and CSV, cents on
the page.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from app.pricing import CLIENT_MARKERS, PriceTable, Usage

ZERO = Decimal(0)
# Money in the API and CSV: micro-dollars, like every other cost the API returns.
MONEY_PLACES = Decimal("0.000001")
PERCENT_PLACES = Decimal("0.01")
ANSWER = "answer"
OVERHEAD_PURPOSES = ("router", "retry", "escalation", "self_check", "rerun")


@dataclass
class Levers:
    """Saving by lever, in USD (overhead positive: it is subtracted)."""

    routing: Decimal = ZERO
    caching: Decimal = ZERO
    batch: Decimal = ZERO
    overhead: Decimal = ZERO

    @property
    def saving(self) -> Decimal:
        return self.routing + self.caching + self.batch - self.overhead

    def __add__(self, other: "Levers") -> "Levers":
        return Levers(self.routing + other.routing, self.caching + other.caching, self.batch + other.batch,
                      self.overhead + other.overhead)

    def rounded(self, shown_saving: Decimal, places: Decimal = MONEY_PLACES) -> "Levers":
        """The levers rounded to ``places`` so that they add up exactly to ``shown_saving``.

        ``shown_saving`` is the saving as shown (shown baseline minus shown cost). Rounding each figure
        on its own can leave a gap of a unit or two in the last place; largest-remainder rounding closes
        it one unit at a time on the lever that rounding moved furthest the other way, so a reader
        adding the shown numbers gets the shown total.
        """
        names = ("routing", "caching", "batch", "overhead")
        sign = {"routing": 1, "caching": 1, "batch": 1, "overhead": -1}  # overhead is subtracted
        exact = {name: getattr(self, name) for name in names}
        shown = {name: round_money(exact[name], places) for name in names}
        gap = shown_saving - sum(sign[name] * shown[name] for name in names)
        while gap:
            step = places if gap > 0 else -places
            direction = 1 if gap > 0 else -1
            name = max(names, key=lambda n: (direction * sign[n] * (exact[n] - shown[n]), abs(exact[n])))
            shown[name] += sign[name] * step
            gap -= step
        return Levers(**shown)

    def as_dict(self, shown_saving: Decimal, places: Decimal = MONEY_PLACES) -> dict[str, Decimal]:
        """The contract's ``attribution`` object, adding up exactly to ``shown_saving``."""
        shown = self.rounded(shown_saving, places)
        return {"routing_usd": shown.routing, "caching_usd": shown.caching, "batch_usd": shown.batch,
                "overhead_usd": shown.overhead}


def round_money(amount: Decimal, places: Decimal = MONEY_PLACES) -> Decimal:
    return amount.quantize(places, rounding=ROUND_HALF_EVEN)


def saving_pct(cost: Decimal, baseline: Decimal) -> Decimal:
    """1 - cost / baseline, in percent (0-100 when cheaper), rounded to 0.01; 0 with no baseline."""
    if not baseline:
        return ZERO.quantize(PERCENT_PLACES)
    return ((1 - cost / baseline) * 100).quantize(PERCENT_PLACES, rounding=ROUND_HALF_EVEN)


def answer_levers(prices: PriceTable, model: str, usage: Usage, cost: Decimal, baseline: Decimal, *,
                  batch: bool = False, cache_markers: str | None = None) -> Levers:
    """The levers of answer attempts on ``model`` (one attempt, or token and money sums of many)."""
    try:
        caching = (ZERO if cache_markers == CLIENT_MARKERS
                   else prices.plain_cost(model, usage) - prices.cost(model, usage))
    except KeyError:
        caching = ZERO
    discount = cost / prices.batch_multiplier - cost if batch else ZERO
    return Levers(routing=baseline - cost - caching - discount, caching=caching, batch=discount)


def overhead_levers(cost: Decimal, baseline: Decimal = ZERO) -> Levers:
    """Router calls, retries, escalations not kept and self-checks: paid, saving nothing."""
    return Levers(overhead=cost - baseline)


def attempt_levers(prices: PriceTable, purpose: str, model: str, usage: Usage, cost: Decimal,
                   baseline: Decimal, *, batch: bool = False, cache_markers: str | None = None) -> Levers:
    """Levers of one attempt (or of a sum of attempts sharing purpose, model, batch flag and whose markers)."""
    if purpose == ANSWER:
        return answer_levers(prices, model, usage, cost, baseline, batch=batch, cache_markers=cache_markers)
    return overhead_levers(cost, baseline)
