"""Dollar amounts as a person reads them: cents for most money, more places only where they carry it.

A $0.005 limit rounded to cents reads "0.00" (or "$0.01"), which is wrong twice; shown here it is
"0.005". Amounts keep at least two places and at most six (the micro-dollar every cost is reported in).
"""
from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

MICRO = Decimal("0.000001")
MIN_PLACES = 2


def readable_usd(amount) -> str:
    """``amount`` with two to six decimal places, as many as it needs: 10.00, 0.005, 0.000123."""
    value = Decimal(str(amount or 0)).quantize(MICRO, rounding=ROUND_HALF_EVEN)
    places = max(MIN_PLACES, -value.normalize().as_tuple().exponent) if value else MIN_PLACES
    return f"{value:,.{places}f}"
