"""``tiergate budgets set|list``: monthly or daily budgets per API key or per workflow."""
from __future__ import annotations

from decimal import Decimal

import click

from app.money.budgets import ACTIONS, DEFAULT_ALERT_PCT, PERIODS, list_budgets, set_budget
from app.cli import cli
from app.cli.common import cli_settings, cli_store, running_redis
from app.money.budget_view import watch_budgets
from app.errors import InvalidField
from app.reports.amounts import readable_usd


@cli.group()
def budgets() -> None:
    """Set and list budgets."""


@budgets.command("set")
@click.option("--key", "key_id", type=int, help="The API key's id (see `tiergate keys list`).")
@click.option("--workflow", help="The workflow name callers send as metadata.workflow.")
@click.option("--usd", "limit", required=True, type=click.FloatRange(min=0, min_open=True), help="The limit in USD.")
@click.option("--period", type=click.Choice(PERIODS), default="month", show_default=True)
@click.option("--on-budget", "action", type=click.Choice(ACTIONS), default="refuse", show_default=True,
              help="When spent: refuse (HTTP 402) or downgrade to the cheapest tier the safety floor allows "
                   "(then rules.budget_floor_action: refuse or review).")
@click.option("--alert-pct", type=click.IntRange(0, 100), default=DEFAULT_ALERT_PCT, show_default=True,
              help="Send a budget.threshold callback when spend reaches this share (0: never).")
@click.option("--alert-url", help="Where the signed budget.threshold callback goes.")
def set_(key_id: int | None, workflow: str | None, limit: float, period: str, action: str, alert_pct: int,
         alert_url: str | None) -> None:
    """Create or change a budget of one key or one workflow."""
    if (key_id is None) == (workflow is None):
        raise click.UsageError("give exactly one of --key or --workflow")
    scope, subject = ("api_key", str(key_id)) if key_id is not None else ("workflow", workflow)
    settings = cli_settings()
    store = cli_store(settings)
    watch_budgets(store, running_redis(settings), load=False)  # the running service hears of the change
    try:
        with store.session() as session:
            budget = set_budget(session, scope, subject, Decimal(str(limit)), period=period, action=action,
                                alert_pct=alert_pct, alert_url=alert_url)
            budget_id = budget.id
    except InvalidField as exc:
        raise click.BadParameter(exc.message) from None
    click.echo(f"budget {budget_id}: {scope} {subject}, ${limit:g} per {period}, on budget: {action}")


@budgets.command("list")
def list_() -> None:
    """Every budget with this period's spend and what is left."""
    with cli_store().session() as session:
        rows = list_budgets(session)
    click.echo(f"{'id':>4}  {'scope':<9} {'subject':<24} {'period':<7} {'limit':>10} {'spent':>12} {'left':>12}  action")
    for row in rows:
        click.echo(f"{row.id:>4}  {row.scope:<9} {row.subject:<24} {row.period_key:<7} {readable_usd(row.limit_usd):>10} "
                   f"{readable_usd(row.spent_usd):>12} {readable_usd(row.left_usd):>12}  {row.action}")
