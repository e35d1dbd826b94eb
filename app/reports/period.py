"""The report's time window, read from ``from`` and ``to`` query values.

Both accept ``YYYY-MM``, ``YYYY-MM-DD`` or an ISO date-time (UTC when no offset is given). ``from`` is
inclusive. A date-only ``to`` includes that whole day (``YYYY-MM`` that whole month), because an owner
asking for ``from=2026-05-01&to=2026-05-31`` means all of May; a ``to`` with a time is exclusive.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from app.errors import InvalidField

MONTH = re.compile(r"^\d{4}-\d{2}$")
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Period:
    """``start <= created_at < end``; either side may be open."""

    start: datetime | None = None
    end: datetime | None = None

    def label(self) -> str:
        first = f"{self.start:%Y-%m-%d}" if self.start else "the beginning"
        last = f"{self.end - timedelta(microseconds=1):%Y-%m-%d}" if self.end else "now"
        return f"{first} to {last}"


def next_month(moment: datetime) -> datetime:
    return moment.replace(year=moment.year + moment.month // 12, month=moment.month % 12 + 1, day=1)


def _parse(value: str, field: str, *, upper: bool) -> datetime:
    text = value.strip()
    try:
        if MONTH.match(text):
            start = datetime.strptime(text, "%Y-%m").replace(tzinfo=timezone.utc)
            return next_month(start) if upper else start
        if DAY.match(text):
            start = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc)
            return start + timedelta(days=1) if upper else start
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidField(f"{field}: expected YYYY-MM, YYYY-MM-DD or an ISO date-time, got {value!r}", field) from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def parse_period(start: str | None, end: str | None) -> Period:
    """The window for ``from`` and ``to`` (blank means open), or InvalidField naming the bad one."""
    period = Period(_parse(start, "from", upper=False) if start and start.strip() else None,
                    _parse(end, "to", upper=True) if end and end.strip() else None)
    if period.start and period.end and period.start >= period.end:
        raise InvalidField("from must be before to", "from")
    return period
