"""The cost function against figures worked out by hand from the default price table."""
from __future__ import annotations

from decimal import Decimal

import pytest

from app.policy import load_policy
from app.pricing import Usage


@pytest.fixture(scope="module")
def prices():
    return load_policy().prices


def test_plain_input_and_output(prices):
    # Haiku: 1,000,000 in at $1 + 200,000 out at $5 = 1 + 1 = $2
    assert prices.cost("claude-haiku-4-5", Usage(input_tokens=1_000_000, output_tokens=200_000)) == Decimal("2")


def test_cache_write_is_1_25x_and_cache_read_0_1x_input(prices):
    usage = Usage(input_tokens=1000, output_tokens=500, cache_write_tokens=4000, cache_read_tokens=0)
    # Sonnet: 1000*3 + 4000*3*1.25 + 500*15 = 3000 + 15000 + 7500 = 25500 per million -> $0.0255
    assert prices.cost("claude-sonnet-4-6", usage) == Decimal("0.0255")
    read = Usage(input_tokens=1000, output_tokens=500, cache_read_tokens=4000)
    # 3000 + 4000*3*0.1 + 7500 = 11700 -> $0.0117
    assert prices.cost("claude-sonnet-4-6", read) == Decimal("0.0117")


def test_batch_halves_everything(prices):
    usage = Usage(input_tokens=10_000, output_tokens=2_000, cache_read_tokens=6_000)
    # Opus: 10000*5 + 6000*5*0.1 + 2000*25 = 50000 + 3000 + 50000 = 103000 -> $0.103, half = $0.0515
    assert prices.cost("claude-opus-4-7", usage, batch=True) == Decimal("0.0515")


def test_plain_cost_bills_cached_tokens_as_input(prices):
    usage = Usage(input_tokens=1000, output_tokens=100, cache_write_tokens=500, cache_read_tokens=2500)
    # baseline Sonnet: (1000+500+2500)*3 + 100*15 = 12000 + 1500 = 13500 -> $0.0135
    assert prices.plain_cost("claude-sonnet-4-6", usage) == Decimal("0.0135")


def test_reference_blend_saves_about_43_percent_by_routing_alone(prices):
    """docs/architecture.md, "Performance targets": 70/25/5 on the tiers at 4:1 input:output against all-Sonnet."""
    def blended(model):  # price of 5 tokens at 4:1, per million
        return prices.cost(model, Usage(input_tokens=4_000_000, output_tokens=1_000_000)) / 5
    routed = (Decimal("0.7") * blended("claude-haiku-4-5") + Decimal("0.25") * blended("claude-sonnet-4-6")
              + Decimal("0.05") * blended("claude-opus-4-7"))
    assert blended("claude-haiku-4-5") == Decimal("1.8") and blended("claude-sonnet-4-6") == Decimal("5.4")
    saving = 1 - routed / blended("claude-sonnet-4-6")
    assert round(saving * 100, 1) == Decimal("43.3")


def test_unknown_model_is_a_clear_error(prices):
    with pytest.raises(KeyError, match="no price configured for model 'gpt-x'"):
        prices.cost("gpt-x", Usage(input_tokens=1))
