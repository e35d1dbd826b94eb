"""``tiergate shadow report``: per class, how often the cheap tier agreed with the baseline model."""
from __future__ import annotations

import json

import click

from app.cli import cli
from app.cli.common import cli_settings, cli_store
from app.errors import InvalidField
from app.policy import load_policy
from app.policy.loader import parse_policy
from app.reports.period import parse_period
from app.sampling import active_version
from app.shadow.report import (KEEP_BELOW_PCT, MIN_COMPARED, MOVE_UP_ABOVE_PCT, RECOMMENDATION_TEXT, ShadowReport,
                               shadow_report)


@cli.group()
def shadow() -> None:
    """Shadow comparisons against the baseline model."""


@shadow.command()
@click.option("--from", "start", default=None, help="YYYY-MM, YYYY-MM-DD or an ISO date-time (inclusive).")
@click.option("--to", "end", default=None, help="Same forms; a date-only value includes that day or month.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--send-disagreements", is_flag=True, help="Put the window's disagreements into the review queue.")
def report(start: str | None, end: str | None, as_json: bool, send_disagreements: bool) -> None:
    """Per class: agreement with the baseline (95% interval), the disagreements, spend, recommendation."""
    try:
        period = parse_period(start, end)
    except InvalidField as exc:
        raise click.BadParameter(exc.message, param_hint=f"--{exc.field}") from None
    settings = cli_settings()
    store = cli_store(settings)
    with store.session() as session:
        version = active_version(session)  # a policy applied from the reports page overrides the file
        policy = parse_policy(version.content, source=f"<policy version {version.id}>") if version \
            else load_policy(settings.policy_path)
        if send_disagreements:
            from app.shadow.audit import send_disagreements

            sent = send_disagreements(session, period)
            click.echo(f"sent {len(sent)} disagreement(s) to the review queue", err=True)
        result = shadow_report(session, policy, period)
        click.echo(json.dumps(result.to_dict(), indent=2) if as_json else render(result))


def render(result: ShadowReport) -> str:
    """The per-class table, then every disagreement with both answers, for a person to check."""
    lines = [f"Shadow comparisons against {result.baseline_model}, {result.period.label()}",
             f"bands on the wrong / disagreement rate: keep < {KEEP_BELOW_PCT:g}%, adjust "
             f"{KEEP_BELOW_PCT:g}-{MOVE_UP_ABOVE_PCT:g}%, move up > {MOVE_UP_ABOVE_PCT:g}%; the shadow signal "
             f"counts from {MIN_COMPARED} comparisons", ""]
    header = (f"{'class':<20} {'comparator':<10} {'compared':>8} {'agree':>7} {'95% interval':>15} {'not judged':>10} "
              f"{'human wrong':>12} {'shadow $':>10} {'judge $':>9} {'budget $':>9}  recommendation")
    lines += [header, "-" * len(header)]
    for entry in result.classes:
        interval = entry.interval_pct
        human = f"{entry.audit_wrong}/{entry.audited}" if entry.audited else "-"
        lines.append(
            f"{entry.task_type:<20} {entry.comparator:<10} {entry.compared:>8} "
            f"{_pct(entry.agreement_pct):>7} {(f'{interval[0]:.1f}-{interval[1]:.1f}%' if interval else '-'):>15} "
            f"{entry.not_judged:>10} {human:>12} {entry.shadow_cost:>10.6f} {entry.judge_cost:>9.6f} "
            f"{(f'{entry.budget_usd:.2f}' if entry.budget_usd is not None else '-'):>9}  "
            f"{RECOMMENDATION_TEXT[entry.recommendation]}")
    spend = result.spend()
    lines += ["", f"shadow spend (not in the saving): ${spend['cost_usd']:.6f} = baseline calls "
                  f"${spend['shadow_cost_usd']:.6f} + judge ${spend['judge_cost_usd']:.6f}"]
    for entry in result.classes:
        for item in entry.disagreements + entry.unjudged:
            where = f"request {item['request_id']}" + (f", row {item['item_index']}" if item["item_index"] is not None else "")
            lines += ["", f"[{entry.task_type}] {item['verdict']} {item['comparison_id']} ({where})",
                      f"  input:    {_one_line(item['input'])}",
                      f"  answer:   {_one_line(item['answer'])}  ({item['answer_model']})",
                      f"  baseline: {_one_line(item['baseline_answer'])}  ({item['baseline_model']})",
                      f"  reason:   {item['reason']}"]
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())
