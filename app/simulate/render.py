"""The simulation as the before/after table of docs/architecture.md, "Ledger and pricing", as JSON, and as an HTML page.

All three show the same rounded Decimals: money in the JSON to the micro-dollar (levers adding up
exactly to the saving, as in the ledger report), the table and the page to the cent.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from app.reports.attribution import PERCENT_PLACES, round_money, saving_pct
from app.reports.charts import Series, bar_chart, column_chart, dollars
from app.reports.export import DisplayCurrency
from app.simulate.engine import MONTHS_PER_YEAR, Simulation

CENTS = Decimal("0.01")
LEVER_LABELS = (("routing_usd", "Routing (tier choice)"), ("caching_usd", "Prompt caching"),
                ("batch_usd", "Batch API"), ("overhead_usd", "Overheads (extra calls)"))


def _pct(part: Decimal, whole: Decimal) -> Decimal:
    return (100 * part / whole).quantize(PERCENT_PLACES) if whole else Decimal(0).quantize(PERCENT_PLACES)


def summary(result: Simulation, display: DisplayCurrency | None = None) -> dict[str, Any]:
    """The figures in Decimal: the CLI's ``--json`` document before float conversion."""
    before, after = round_money(result.before), round_money(result.after)
    saving = before - after
    tier_tokens = sum(figures.tokens for figures in result.by_tier.values())
    by_tier = {
        tier: {
            "model": figures.model,
            "requests": figures.requests,
            "escalated_in": figures.escalated_in,
            "batch_requests": figures.batch_requests,
            "input_tokens": figures.input_tokens,
            "output_tokens": figures.output_tokens,
            "cache_read_tokens": figures.cache_read_tokens,
            "cache_write_tokens": figures.cache_write_tokens,
            "tokens": figures.tokens,
            "token_share_pct": _pct(Decimal(figures.tokens), Decimal(tier_tokens)),
            "before_usd": round_money(figures.before),
            "after_usd": round_money(figures.after),
            "cost_share_pct": _pct(figures.after, result.after),
        }
        for tier, figures in result.by_tier.items()
    }
    months = result.months
    monthly_before, monthly_after = round_money(result.before / months), round_money(result.after / months)
    document: dict[str, Any] = {
        "requests": result.requests,
        "tokens": result.tokens,
        "months": months,
        "baseline_model": result.baseline_model,
        "before_usd": before,
        "after_usd": after,
        "saving_usd": saving,
        "saving_pct": result.saving_pct,
        # The same traffic with prompt caching left out: what the saving is where no prefix reaches the
        # model's minimum cacheable length (the default prompts alone never do).
        "without_caching": {"after_usd": round_money(result.after + result.levers.caching),
                            "saving_usd": before - round_money(result.after + result.levers.caching),
                            "saving_pct": saving_pct(result.after + result.levers.caching, result.before)},
        "by_tier": by_tier,
        "before_by_model": {model: {"requests": count, "tokens": tokens, "cost_usd": round_money(cost)}
                            for model, (count, tokens, cost) in result.before_by_model.items()},
        "attribution": result.levers.as_dict(saving),
        "lever_saving_pct": {"routing": result.lever_pct(result.levers.routing),
                             "caching": result.lever_pct(result.levers.caching),
                             "batch": result.lever_pct(result.levers.batch),
                             "overhead": result.lever_pct(result.levers.overhead)},
        "escalation_rate_pct": (result.escalation_rate * 100).quantize(PERCENT_PLACES),
        "escalated_requests": result.escalated,
        "monthly": {"before_usd": monthly_before, "after_usd": monthly_after, "saving_usd": monthly_before - monthly_after},
        "yearly": {"before_usd": monthly_before * MONTHS_PER_YEAR, "after_usd": monthly_after * MONTHS_PER_YEAR,
                   "saving_usd": (monthly_before - monthly_after) * MONTHS_PER_YEAR},
        "setup_cost_usd": result.setup_cost,
        "payback_months": None if result.payback_months is None else result.payback_months.quantize(CENTS),
    }
    if display:
        document["display_currency"] = {"code": display.code, "rate": display.rate,
                                        "before": display.convert(before), "after": display.convert(after),
                                        "saving": display.convert(before) - display.convert(after),
                                        "monthly_saving": display.convert(monthly_before - monthly_after)}
    return document


def to_json(value: Any) -> Any:
    """Decimals as JSON numbers, recursively."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and value.as_tuple().exponent >= 0 else float(value)
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    return value


def _usd(amount: Decimal) -> str:
    return f"{amount.quantize(CENTS):,.2f}"


def table(result: Simulation, source: str, display: DisplayCurrency | None = None) -> str:
    """The before/after table in plain text, as the CLI prints it."""
    data = summary(result, display)
    lines = [f"Tiergate savings simulation: {source}",
             f"{data['requests']:,} requests, {data['tokens']:,} tokens over {data['months']} month(s); "
             f"no model was called.", "",
             "BEFORE (as logged, list price, no cache, no batch)",
             f"  {'model':<22}{'requests':>10}{'tokens':>14}{'share':>8}{'cost USD':>12}"]
    for model, entry in data["before_by_model"].items():
        lines.append(f"  {model:<22}{entry['requests']:>10,}{entry['tokens']:>14,}"
                     f"{_pct(Decimal(entry['tokens']), Decimal(data['tokens'])):>7}%{_usd(entry['cost_usd']):>12}")
    lines += ["", "AFTER (routed by the policy, with prompt caching and batch)",
              f"  {'tier':<7}{'model':<22}{'requests':>10}{'tokens':>14}{'share':>8}{'cost USD':>12}{'share':>8}"]
    for tier, entry in data["by_tier"].items():
        lines.append(f"  {tier:<7}{entry['model']:<22}{entry['requests']:>10,}{entry['tokens']:>14,}"
                     f"{entry['token_share_pct']:>7}%{_usd(entry['after_usd']):>12}{entry['cost_share_pct']:>7}%")
    monthly, yearly = data["monthly"], data["yearly"]
    lines += ["", f"  {'':<22}{'before':>12}{'after':>12}{'saving':>12}",
              f"  {'per month (USD)':<22}{_usd(monthly['before_usd']):>12}{_usd(monthly['after_usd']):>12}"
              f"{_usd(monthly['saving_usd']):>12}  ({data['saving_pct']}%)",
              f"  {'per year (USD)':<22}{_usd(yearly['before_usd']):>12}{_usd(yearly['after_usd']):>12}"
              f"{_usd(yearly['saving_usd']):>12}"]
    if display:
        shown = data["display_currency"]
        lines.append(f"  {'per month (' + shown['code'] + ')':<22}{shown['before'] / result.months:>12,.2f}"
                     f"{shown['after'] / result.months:>12,.2f}{shown['monthly_saving']:>12,.2f}")
    if data["setup_cost_usd"] is not None:
        payback = data["payback_months"]
        lines.append(f"  payback of a {_usd(data['setup_cost_usd'])} USD set-up: "
                     + (f"{payback} months" if payback is not None else "never (no saving)"))
    lines += ["", "SAVING BY LEVER (USD over the log; % of the before cost)"]
    for key, label in LEVER_LABELS:
        amount = data["attribution"][key]
        shown = ("-" if key == "overhead_usd" and amount else "") + _usd(amount)
        pct = data["lever_saving_pct"][key.removesuffix("_usd")]
        lines.append(f"  {label:<26}{shown:>12}  {pct:>6}%")
    lines.append(f"  {'= saving':<26}{_usd(data['saving_usd']):>12}  {data['saving_pct']:>6}%")
    if data["escalated_requests"]:
        lines.append(f"  ({data['escalated_requests']} requests escalated at the assumed "
                     f"{data['escalation_rate_pct']}% rate, their cheap try counted as overhead)")
    return "\n".join(lines) + "\n"


def html(result: Simulation, source: str, display: DisplayCurrency | None = None) -> str:
    """A self-contained page (inline CSS and SVG) with the table and its charts."""
    data = summary(result, display)
    tiers = list(data["by_tier"])
    charts = {
        "by_tier": column_chart("Cost by tier, before and after (USD)", tiers,
                                [Series("before", [float(data["by_tier"][t]["before_usd"]) for t in tiers], "#98a2b3"),
                                 Series("after", [float(data["by_tier"][t]["after_usd"]) for t in tiers], "#0072B2")],
                                fmt=dollars),
        "levers": bar_chart("Saving by lever (USD)", [label for _key, label in LEVER_LABELS],
                            [Series("", [float(data["attribution"][key]) * (-1 if key == "overhead_usd" else 1)
                                         for key, _label in LEVER_LABELS], "#009E73")],
                            fmt=dollars),
        "tokens": bar_chart("Token share by tier (%)", tiers,
                            [Series("", [float(data["by_tier"][t]["token_share_pct"]) for t in tiers], "#56B4E9")],
                            fmt=lambda value: f"{value:.1f}%", maximum=100.0),
    }
    environment = Environment(loader=PackageLoader("app", "templates"), autoescape=select_autoescape(["html"]))
    return environment.get_template("reports_simulation.html").render(
        data=data, charts=charts, source=source, table=table(result, source, display), lever_labels=LEVER_LABELS)
