"""The levers: per-attempt split, and rounding that keeps routing + caching + batch - overhead exact."""
from __future__ import annotations

import random
from decimal import Decimal

import pytest

from app.policy import load_policy
from app.pricing import Usage
from app.reports import Levers, attempt_levers
from app.reports.attribution import MONEY_PLACES, round_money

D = Decimal
PRICES = load_policy(None).prices


def test_answer_on_haiku_with_cache_and_batch():
    """Haiku, 1,000 uncached + 2,000 cache-read input, 500 output, batch.

    plain 3,000 x 1 + 500 x 5 = 5,500; with cache 1,000 + 200 + 2,500 = 3,700; billed 1,850 (micro-dollars)
    baseline on Sonnet 3,000 x 3 + 500 x 15 = 16,500 -> routing 11,000, caching 1,800, batch 1,850.
    """
    usage = Usage(1000, 500, cache_read_tokens=2000)
    cost, baseline = PRICES.cost("claude-haiku-4-5", usage, batch=True), PRICES.plain_cost("claude-sonnet-4-6", usage)
    levers = attempt_levers(PRICES, "answer", "claude-haiku-4-5", usage, cost, baseline, batch=True)
    assert (levers.routing, levers.caching, levers.batch, levers.overhead) == (D("0.011"), D("0.0018"), D("0.00185"), 0)
    assert levers.saving == baseline - cost


@pytest.mark.parametrize("purpose", ["router", "retry", "escalation", "self_check"])
def test_other_attempts_are_overhead(purpose):
    levers = attempt_levers(PRICES, purpose, "claude-haiku-4-5", Usage(100, 10), D("0.00015"), D(0))
    assert levers == Levers(overhead=D("0.00015"))


def test_a_model_without_a_price_puts_everything_in_routing():
    levers = attempt_levers(PRICES, "answer", "retired-model", Usage(100, 10), D("0.001"), D("0.0045"))
    assert levers == Levers(routing=D("0.0035"))


@pytest.mark.parametrize("places", [MONEY_PLACES, D("0.01")])
def test_rounded_levers_add_up_to_the_shown_saving(places):
    generator = random.Random(6)
    for _ in range(2000):
        exact = Levers(*(D(generator.randrange(-10**9, 10**9)) / D(10**8) for _ in range(3)),
                       overhead=D(generator.randrange(0, 10**8)) / D(10**8))
        cost = D(generator.randrange(0, 10**9)) / D(10**8)
        baseline = cost + exact.saving
        shown_saving = round_money(baseline, places) - round_money(cost, places)
        shown = exact.rounded(shown_saving, places)
        assert shown.routing + shown.caching + shown.batch - shown.overhead == shown_saving
        for name in ("routing", "caching", "batch", "overhead"):
            assert abs(getattr(shown, name) - getattr(exact, name)) < 2 * places


def test_largest_remainder_picks_the_lever_rounding_moved_most():
    exact = Levers(routing=D("1.352"), caching=D("0.285"), batch=D("0.205"), overhead=D("0.1125"))
    assert exact.rounded(D("1.73"), D("0.01")) == Levers(D("1.35"), D("0.29"), D("0.20"), D("0.11"))
