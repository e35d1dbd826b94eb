"""The /reports page: cost against baseline, the saving's levers and per-class health, with charts.

Server-rendered; the charts are inline SVG drawn here (``app.reports.charts``), so the page needs no
asset from outside the app. The CSV downloads are the API's CSV behind the reviewer session.
"""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from flask import Blueprint, current_app, render_template, request

from app.web.downloads import csv_response
from app.errors import InvalidField
from app.reports import (DEFAULT_GROUPING, GROUPINGS, DisplayCurrency, Period, parse_period, quality_csv,
                         quality_report, savings_csv, savings_report)
from app.reports.amounts import readable_usd
from app.reports.charts import Marker, Series, bar_chart, column_chart, dollars
from app.reports.export import CENTS, figures_row
from app.reports.quality import (ESCALATION_GOOD_BELOW_PCT, ESCALATION_START_HIGHER_ABOVE_PCT,
                                 FORMAT_SUCCESS_TARGET_PCT, MIN_REQUESTS_FOR_SUGGESTION, class_row)
from app.shadow.report import shadow_report
from app.web.context import current_policy, db
from app.web.auth import login_required

bp = Blueprint("reports", __name__, url_prefix="/reports")

# The page opens on the last twelve months, the window an owner compares month by month.
DEFAULT_MONTHS = 12


def default_period(now: datetime | None = None) -> Period:
    now = now or datetime.now(timezone.utc)
    month_index = now.year * 12 + now.month - 1 - (DEFAULT_MONTHS - 1)
    return Period(datetime(month_index // 12, month_index % 12 + 1, 1, tzinfo=timezone.utc), None)


def _period() -> tuple[Period, str | None]:
    start, end = request.args.get("from"), request.args.get("to")
    if not (start or end):
        return default_period(), None
    try:
        return parse_period(start, end), None
    except InvalidField as exc:
        return default_period(), exc.message


# Fewer requests with a model call than this, and the saving is shown without red or green: a first
# test call, a router call or one escalation can make it look like a loss before there is traffic to judge.
JUDGE_SAVING_FROM_REQUESTS = 20

# Below this baseline a month's figures are mostly fractions of a cent, so the page shows four
# decimals ($0.0042) instead of rounding nearly everything to $0.00.
SUB_CENT_BELOW_USD = Decimal("1")
SUB_CENT = Decimal("0.0001")


def money_places(baseline_usd) -> Decimal:
    """Cents for real money, tenths of a mill for small-business volumes."""
    return CENTS if abs(Decimal(str(baseline_usd or 0))) >= SUB_CENT_BELOW_USD else SUB_CENT


def money_formatter(places: Decimal):
    """Dollars at ``places`` with the minus sign in front: −$0.0100, $0.0042."""
    digits = max(2, -places.as_tuple().exponent)

    def fmt(value) -> str:
        value = Decimal(str(value or 0))
        return f"−${-value:,.{digits}f}" if value < 0 else f"${value:,.{digits}f}"
    return fmt


def per_thousand(cost_usd, requests: int) -> Decimal | None:
    """Cost per 1,000 requests: the figure that stays readable when each request costs a fraction of a cent."""
    return Decimal(str(cost_usd)) * 1000 / requests if requests else None


def _pct(value: float) -> str:
    return f"{value:.0f}%"


@bp.get("")
@login_required
def page():
    period, problem = _period()
    policy, session = current_policy(), db()
    display = DisplayCurrency.from_settings(current_app.config.get("TIERGATE"))
    by_month = savings_report(session, policy, period, "month")
    quality = quality_report(session, policy, period)
    # Cents on the page (or four decimals at small volumes), rounded so that the shown levers add up
    # to the shown saving.
    places = money_places(by_month.total.baseline)
    total = figures_row(by_month.total, display, places)
    months = [figures_row(group, places=places) for group in by_month.groups]
    classes = [class_row(entry) for entry in quality.classes]
    savings_by_class = {group.key: figures_row(group, places=places) for group in quality.savings.groups}
    workflows = [figures_row(group, places=places) for group in savings_report(session, policy, period, "workflow").groups]
    waiting = [row for row in classes if row["requests"] < MIN_REQUESTS_FOR_SUGGESTION]
    labels = [row["task_type"] for row in classes]
    charts = {
        "by_month": column_chart(
            "Cost vs baseline by month (USD)", [row["key"] for row in months],
            [Series("baseline", [float(row["baseline_cost_usd"]) for row in months], "#98a2b3"),
             Series("cost", [float(row["cost_usd"]) for row in months], "#0072B2")], fmt=dollars),
        "saving_by_class": bar_chart(
            "Saving by class (USD)", labels,
            [Series("", [float(savings_by_class[label]["saving_usd"]) if label in savings_by_class else 0.0
                         for label in labels], "#009E73")], fmt=dollars),
        "rates": bar_chart(
            "Escalation and format success by class (%)", labels,
            [Series("escalation", [row["escalation_pct"] for row in classes], "#E69F00"),
             Series("format success", [row["format_success_pct"] for row in classes], "#0072B2")],
            fmt=_pct, maximum=100.0,
            markers=[Marker(ESCALATION_GOOD_BELOW_PCT, "20%"), Marker(ESCALATION_START_HIGHER_ABOVE_PCT, "60%", "#b42318"),
                     Marker(FORMAT_SUCCESS_TARGET_PCT, "98%", "#12805c")]),
        "latency": bar_chart(
            "Latency by class (ms)", labels,
            [Series("p50", [row["latency_p50_ms"] for row in classes], "#56B4E9"),
             Series("p95", [row["latency_p95_ms"] for row in classes], "#0072B2")],
            fmt=lambda value: f"{value:,.0f} ms"),
    }
    return render_template("reports.html", period=period, problem=problem, total=total, months=months,
                           classes=classes, savings_by_class=savings_by_class, suggestions=quality.suggestions,
                           charts=charts, display=display, money=money_formatter(places), baseline_model=by_month.baseline_label,
                           workflows=workflows, waiting=waiting, min_requests=MIN_REQUESTS_FOR_SUGGESTION,
                           judge_saving_from=JUDGE_SAVING_FROM_REQUESTS,
                           per_thousand=per_thousand,
                           unattributed=by_month.unattributed, args=request.args,
                           window={name: request.args[name] for name in ("from", "to") if request.args.get(name)})


@bp.get("/savings.csv")
@login_required
def savings_download():
    group_by = request.args.get("group_by", DEFAULT_GROUPING)
    period = _period()[0]
    report = savings_report(db(), current_policy(), period, group_by if group_by in GROUPINGS else DEFAULT_GROUPING)
    shadow = shadow_report(db(), current_policy(), period).spend()
    return csv_response(savings_csv(report, DisplayCurrency.from_settings(current_app.config.get("TIERGATE")), shadow),
                        f"tiergate-savings-by-{report.group_by}.csv")


@bp.get("/quality.csv")
@login_required
def quality_download():
    return csv_response(quality_csv(quality_report(db(), current_policy(), _period()[0])), "tiergate-quality.csv")


@bp.app_template_filter("usd")
def usd_filter(amount) -> str:
    """Budget limits and spend in templates: ``{{ row.limit_usd|usd }}`` shows $0.005 as 0.005, not 0.01."""
    return readable_usd(amount)


@bp.app_template_global()
def budget_rows():
    """Every budget with this period's spend, for ``_budgets.html``."""
    from app.money.budgets import list_budgets

    return list_budgets(db())
