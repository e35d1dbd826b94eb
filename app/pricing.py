"""Token prices and the cost function.

Prices are USD per million tokens and come from the policy file's ``prices`` section, so an operator
can follow the provider's price list without a release. Money is computed in ``Decimal``: the reports
must reconcile to the cent, and float sums drift.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

TOKENS_PER_PRICE_UNIT = Decimal(1_000_000)

DEFAULT_CACHE_WRITE_MULTIPLIER = Decimal("1.25")  # 5-minute TTL
DEFAULT_CACHE_WRITE_1H_MULTIPLIER = Decimal("2")  # 1-hour TTL
DEFAULT_CACHE_READ_MULTIPLIER = Decimal("0.1")
DEFAULT_BATCH_MULTIPLIER = Decimal("0.5")
# Who placed a call's prompt-cache markers (``Attempt.cache_markers``): a drop-in client, or Tiergate.
CLIENT_MARKERS, OWN_MARKERS = "client", "tiergate"


@dataclass(frozen=True)
class Usage:
    """Tokens one model call consumed, split the way the provider bills them.

    ``input_tokens`` is the uncached part of the input, as in Anthropic's usage block; cache writes and
    reads are counted separately. ``cache_write_tokens`` is every cache write (the API's
    ``cache_creation_input_tokens``); ``cache_write_1h_tokens`` is the part of it written with the
    1-hour TTL (``cache_creation.ephemeral_1h_input_tokens``), billed at its own multiplier.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_1h_tokens: int = 0

    @property
    def total_input_tokens(self) -> int:
        return self.input_tokens + self.cache_write_tokens + self.cache_read_tokens

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cache_write_1h_tokens + other.cache_write_1h_tokens,
        )

    @property
    def cache_write_5m_tokens(self) -> int:
        return self.cache_write_tokens - self.cache_write_1h_tokens


class ModelPrice(BaseModel):
    """USD per million tokens for one model."""

    model_config = ConfigDict(extra="forbid")

    input: Decimal = Field(ge=0)
    output: Decimal = Field(ge=0)
    # The provider caches a prefix only from this many tokens on; a shorter one is neither marked nor
    # promised a discount. 0 = no minimum known.
    min_cache_tokens: int = Field(default=0, ge=0)


class PriceTable(BaseModel):
    """Prices per model plus the provider's cache and batch multipliers."""

    model_config = ConfigDict(extra="forbid")

    models: dict[str, ModelPrice]
    cache_write_multiplier: Decimal = Field(default=DEFAULT_CACHE_WRITE_MULTIPLIER, ge=0)
    cache_write_1h_multiplier: Decimal = Field(default=DEFAULT_CACHE_WRITE_1H_MULTIPLIER, ge=0)
    cache_read_multiplier: Decimal = Field(default=DEFAULT_CACHE_READ_MULTIPLIER, ge=0)
    batch_multiplier: Decimal = Field(default=DEFAULT_BATCH_MULTIPLIER, gt=0, le=1)

    def price(self, model: str) -> ModelPrice:
        try:
            return self.models[model]
        except KeyError:
            raise KeyError(f"no price configured for model {model!r}") from None

    def cost(self, model: str, usage: Usage, *, batch: bool = False) -> Decimal:
        """What the provider bills for ``usage`` on ``model``."""
        price = self.price(model)
        amount = (
            usage.input_tokens * price.input
            + usage.cache_write_5m_tokens * price.input * self.cache_write_multiplier
            + usage.cache_write_1h_tokens * price.input * self.cache_write_1h_multiplier
            + usage.cache_read_tokens * price.input * self.cache_read_multiplier
            + usage.output_tokens * price.output
        ) / TOKENS_PER_PRICE_UNIT
        return amount * self.batch_multiplier if batch else amount

    def cacheable(self, model: str, prefix_tokens: int) -> bool:
        """Does a prefix of ``prefix_tokens`` reach ``model``'s minimum cacheable length?"""
        spec = self.models.get(model)
        return prefix_tokens > 0 and (spec is None or prefix_tokens >= spec.min_cache_tokens)

    def baseline_cost(self, baseline_model: str, usage: Usage, cache_markers: str | None) -> Decimal:
        """An answer's tokens on the baseline model, as the client would pay calling it directly: without
        discounts, except the cache its own markers earned (it has that cache without Tiergate too)."""
        if cache_markers == CLIENT_MARKERS:
            return self.cost(baseline_model, usage)
        return self.plain_cost(baseline_model, usage)

    def plain_cost(self, model: str, usage: Usage) -> Decimal:
        """The same tokens on ``model`` with no cache and no batch discount."""
        flat = Usage(input_tokens=usage.total_input_tokens, output_tokens=usage.output_tokens)
        return self.cost(model, flat)


def usd(amount: Decimal, places: int = 6) -> float:
    """A Decimal amount as a JSON-friendly float, rounded to a micro-dollar."""
    return float(round(amount, places))
