"""``tiergate keys create|list|revoke``: API keys per integration."""
from __future__ import annotations

import click

from app.admin import accounts
from app.admin.accounts import issue_key, parse_budget
from app.money.budget_view import watch_budgets
from app.money.budgets import ACTIONS
from app.cli import cli
from app.cli.common import cli_settings, cli_store, running_redis
from app.errors import InvalidField, NotFound


@cli.group()
def keys() -> None:
    """Create, list and revoke API keys."""


@keys.command("create")
@click.option("--name", required=True, help="Who uses the key, e.g. 'n8n-prod'.")
@click.option("--scopes", default="route,classify,fallback", show_default=True,
              help="Comma-separated: route, classify, fallback, review, admin.")
@click.option("--quiet", is_flag=True, help="Print only the key.")
@click.option("--budget", type=click.FloatRange(min=0, min_open=True), help="Monthly budget in USD.")
@click.option("--on-budget", "on_budget", type=click.Choice(ACTIONS), default="refuse", show_default=True,
              help="When the budget is spent: refuse (HTTP 402) or downgrade to the cheapest tier the safety "
                   "floor allows.")
def create(name: str, scopes: str, quiet: bool, budget: float | None, on_budget: str) -> None:
    """Create a key and print it once; only its hash is stored."""
    settings = cli_settings()
    store = cli_store(settings)
    watch_budgets(store, running_redis(settings), load=False)  # a key's budget reaches the running service
    try:
        with store.session() as session:
            issued = issue_key(session, name, scopes, budget_usd=parse_budget(budget), on_budget=on_budget)
    except InvalidField as exc:
        raise click.BadParameter(exc.message, param_hint=f"--{exc.field}") from None
    if quiet:
        click.echo(issued.plain)
    else:
        click.echo(f"created key {issued.id} '{name}' with scopes {','.join(issued.scopes)}")
        click.echo(f"key (shown once, store it now): {issued.plain}")


@keys.command("list")
def list_keys() -> None:
    """List keys (never the keys themselves)."""
    with cli_store().session() as session:
        rows = accounts.list_keys(session)
        click.echo(f"{'id':>4}  {'name':<24} {'prefix':<12} {'scopes':<40} status")
        for key in rows:
            status = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
            click.echo(f"{key.id:>4}  {key.name:<24} {key.prefix + '…':<12} {key.scopes:<40} {status}")


@keys.command("revoke")
@click.argument("key_id", type=int)
def revoke(key_id: int) -> None:
    """Revoke a key by id; requests with it get 401 from now on."""
    settings = cli_settings()
    with cli_store(settings).session() as session:
        try:
            accounts.revoke(session, key_id, running_redis(settings))
        except NotFound as exc:
            raise click.ClickException(exc.message) from None
    click.echo(f"revoked key {key_id}")
