"""``tiergate simulate FILE [--html OUT] [--json]``: the before/after table for a log of past requests."""
from __future__ import annotations

import json
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path

import click

from app.cli import cli
from app.config import load_settings
from app.policy import load_policy
from app.reports import DisplayCurrency
from app.simulate import LogError, SimulationError, html, read_log, simulate, summary, table, to_json


def _decimal(_ctx, param, value):
    if value is None:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise click.BadParameter(f"expected a number, got {value!r}") from None
    if number < 0 or (param.name == "months" and number == 0):
        raise click.BadParameter("must be positive")
    return number


@cli.command("simulate")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--html", "html_out", type=click.Path(dir_okay=False), help="Also write the table with charts to this HTML file.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON instead of the table.")
@click.option("--policy", "policy_file", type=click.Path(exists=True, dir_okay=False),
              help="Policy file to replay with (default: TIERGATE_POLICY, else the built-in policy).")
@click.option("--months", default="1", callback=_decimal, show_default=True, help="How many months the log covers.")
@click.option("--setup-cost", callback=_decimal, help="One-off set-up cost in USD, for the payback time.")
@click.option("--escalation-rate", default="0", callback=_decimal, show_default=True,
              help="Assumed share (0-1) of requests on each non-top tier that fail the gate and escalate one tier.")
def simulate_command(file: str, html_out: str | None, as_json: bool, policy_file: str | None, months: Decimal,
                     setup_cost: Decimal | None, escalation_rate: Decimal) -> None:
    """Replay FILE (CSV or JSONL of past requests) through the policy and print the before/after table.

    No model is called. Columns: task_type and/or text, input_tokens, output_tokens, and optionally
    model (what the request ran on; the baseline when empty), cached_prefix_tokens, urgent, timestamp.
    FILE may also be `tiergate export`'s per-request ledger: replayed on its recorded tiers with its
    recorded cache writes (5 m and 1 h), batch flag, overhead and baseline prices.
    """
    if escalation_rate > 1:
        raise click.BadParameter("is a share between 0 and 1", param_hint="--escalation-rate")
    settings = load_settings()
    policy = load_policy(policy_file or settings.policy_path)
    display = DisplayCurrency.from_settings(settings)
    try:
        result = simulate(read_log(file), policy, months=months, setup_cost=setup_cost, escalation_rate=escalation_rate)
    except (LogError, SimulationError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    source = Path(file).name
    if html_out:
        Path(html_out).write_text(html(result, source, display), encoding="utf-8")
    if as_json:
        click.echo(json.dumps(to_json(summary(result, display)), indent=2))
    else:
        click.echo(table(result, source, display), nl=False)
        if html_out:
            click.echo(f"\nwrote {html_out}")
