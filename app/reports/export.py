"""The reports as the API's JSON and as CSV, built from the same rounded Decimals so the two reconcile.

Money is shown in micro-dollars (6 places), like every cost the API returns; per row, the shown saving
is the shown baseline minus the shown cost, and the shown levers add up to it exactly. An optional
display currency (``TIERGATE_DISPLAY_CURRENCY`` at ``TIERGATE_DISPLAY_RATE`` per USD) adds the same
money converted and rounded to cents; USD stays the reference.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from app.reports.attribution import MONEY_PLACES, round_money
from app.reports.ledger import Figures, SavingsReport, shown_money
from app.reports.period import Period
from app.reports.quality import (ClassQuality, ESCALATION_GOOD_BELOW_PCT, ESCALATION_START_HIGHER_ABOVE_PCT,
                                 FORMAT_SUCCESS_TARGET_PCT, QualityReport, class_row)
from app.reports.requests import REQUEST_COLUMNS, RequestLine, ledger_totals

CENTS = Decimal("0.01")
# Said wherever converted money is shown: it is a reading aid, not each period's bookkeeping rate.
STATIC_RATE_NOTE = "one static rate for every period, past months included; USD is the reference"
SAVINGS_CSV_COLUMNS = ("key", "label", "requests", "dry_run_requests", "input_tokens", "output_tokens",
                       "cache_read_tokens", "cache_write_tokens", "cost_usd", "baseline_cost_usd", "saving_usd",
                       "saving_pct", "routing_usd", "caching_usd", "batch_usd", "overhead_usd")


@dataclass(frozen=True)
class DisplayCurrency:
    code: str
    rate: Decimal

    @classmethod
    def from_settings(cls, settings) -> "DisplayCurrency | None":
        if not settings or not settings.display_currency or not settings.display_rate:
            return None
        return cls(settings.display_currency.upper(), Decimal(str(settings.display_rate)))

    def convert(self, usd: Decimal) -> Decimal:
        return (usd * self.rate).quantize(CENTS)


def figures_row(figures: Figures, display: DisplayCurrency | None = None,
                places: Decimal = MONEY_PLACES) -> dict[str, Any]:
    """One group's figures in Decimal, rounded to ``places`` for showing, with its attribution.

    The API and CSV show micro-dollars; the page shows cents (``places=CENTS``), and its levers are
    rounded to add up to its shown saving in cents.
    """
    cost, baseline, saving = shown_money(figures, places)
    row: dict[str, Any] = {
        "key": figures.key,
        "label": figures.label,
        "requests": figures.requests,
        "dry_run_requests": figures.dry_run_requests,
        "input_tokens": figures.input_tokens,
        "output_tokens": figures.output_tokens,
        "cache_read_tokens": figures.cache_read_tokens,
        "cache_write_tokens": figures.cache_write_tokens,
        "cost_usd": cost,
        "baseline_cost_usd": baseline,
        "saving_usd": saving,
        "saving_pct": figures.saving_pct,
        **figures.levers.as_dict(saving, places),
    }
    if display:
        suffix = display.code.lower()
        # Converted from the exact amounts, so the API, CSV and page show the same figure.
        converted_cost, converted_baseline = display.convert(figures.cost), display.convert(figures.baseline)
        row.update({f"cost_{suffix}": converted_cost, f"baseline_cost_{suffix}": converted_baseline,
                    f"saving_{suffix}": converted_baseline - converted_cost})
    return row


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return value


LEVER_KEYS = ("routing_usd", "caching_usd", "batch_usd", "overhead_usd")


def _split(row: dict[str, Any]) -> dict[str, Any]:
    """The contract puts the levers under ``attribution``; the rest of the row stays flat."""
    flat = {key: value for key, value in row.items() if key not in LEVER_KEYS}
    flat["attribution"] = {key: row[key] for key in LEVER_KEYS}
    return flat


def savings_json(report: SavingsReport, display: DisplayCurrency | None = None) -> dict[str, Any]:
    """``{total, groups, attribution, ...}`` as the contract names them (money as JSON numbers)."""
    total = _split(figures_row(report.total, display))
    attribution = total.pop("attribution")
    for name in ("key", "label"):
        total.pop(name)
    return _jsonable({
        "from": report.period.start.isoformat() if report.period.start else None,
        "to": report.period.end.isoformat() if report.period.end else None,
        "group_by": report.group_by,
        # As recorded per request when it was accepted, not the policy's of today.
        "baseline_model": report.baseline_label,
        "baselines": [{"model": model, "requests": count} for model, count in sorted(report.baselines.items())],
        "display_currency": {"code": display.code, "rate": display.rate, "note": STATIC_RATE_NOTE} if display else None,
        "total": total,
        "groups": [_split(figures_row(group, display)) for group in report.groups],
        "attribution": attribution,
        "ledger_check": {"requests_cost_usd": round_money(report.requests_cost),
                         "unattributed_usd": round_money(report.unattributed)},
    })


def savings_csv(report: SavingsReport, display: DisplayCurrency | None = None,
                shadow: dict[str, Any] | None = None) -> str:
    """One row per group, a ``total`` row, and the JSON's ``shadow`` line as two rows (``shadow`` and
    ``judge``: what shadow comparisons cost, never part of the total or the saving); the same numbers
    as the JSON, to the micro-dollar."""
    rows = [figures_row(group, display) for group in report.groups] + [figures_row(report.total, display)]
    if shadow is not None:
        rows += [{"key": "shadow", "label": "shadow calls on the baseline (not in the saving)",
                  "requests": shadow["comparisons"], "cost_usd": shadow["shadow_cost_usd"]},
                 {"key": "judge", "label": "judge calls of shadow comparisons (not in the saving)",
                  "cost_usd": shadow["judge_cost_usd"]}]
    columns = list(SAVINGS_CSV_COLUMNS)
    if display:
        suffix = display.code.lower()
        columns += [f"cost_{suffix}", f"baseline_cost_{suffix}", f"saving_{suffix}"]
    return _csv(columns, rows)


def requests_json(lines: list[RequestLine], period: Period) -> dict[str, Any]:
    """``GET /v1/reports/requests``: one entry per task (``app.reports.requests``) and their totals."""
    return _jsonable({"from": period.start.isoformat() if period.start else None,
                      "to": period.end.isoformat() if period.end else None,
                      "requests": [line.as_row() for line in lines], "totals": ledger_totals(lines)})


def requests_csv(lines: list[RequestLine]) -> str:
    """The same rows as CSV, money exactly as the ledger holds it (8 places); ``tiergate simulate`` reads it."""
    return _csv(list(REQUEST_COLUMNS), [line.as_row() for line in lines])


def quality_json(report: QualityReport) -> dict[str, Any]:
    return _jsonable({
        "from": report.period.start.isoformat() if report.period.start else None,
        "to": report.period.end.isoformat() if report.period.end else None,
        "bands": {"escalation_good_below_pct": ESCALATION_GOOD_BELOW_PCT,
                  "escalation_start_higher_above_pct": ESCALATION_START_HIGHER_ABOVE_PCT,
                  "format_success_target_pct": FORMAT_SUCCESS_TARGET_PCT},
        "classes": [class_row(entry) for entry in report.classes],
        "suggestions": [{"task_type": item.task_type, "escalation_pct": item.escalation_pct, "requests": item.requests,
                         "from_tier": item.from_tier, "to_tier": item.to_tier, "always": item.always,
                         "message": item.message} for item in report.suggestions],
    })


def quality_csv(report: QualityReport) -> str:
    """One row per task class, the columns of ``quality_json``'s classes."""
    return _csv(list(class_row(ClassQuality("", None))), [class_row(entry) for entry in report.classes])


def _csv(columns: list[str], rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: "" if value is None else value for key, value in row.items()})
    return buffer.getvalue()
