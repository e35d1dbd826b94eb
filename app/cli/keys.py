"""``tiergate keys create|list|revoke``: API keys per integration."""
from __future__ import annotations

import click
from sqlalchemy import select

from decimal import Decimal

from app.api.auth import create_key, parse_scopes, revoke_key
from app.money.budgets import ACTIONS, set_budget
from app.cli import cli
from app.cli.common import cli_settings, cli_store, running_redis
from app.errors import InvalidField
from app.store import ApiKey


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
              help="When the budget is spent: refuse (HTTP 402) or downgrade to the cheapest tier.")
def create(name: str, scopes: str, quiet: bool, budget: float | None, on_budget: str) -> None:
    """Create a key and print it once; only its hash is stored."""
    try:
        scope_list = parse_scopes(scopes)
    except InvalidField as exc:
        raise click.BadParameter(exc.message, param_hint="--scopes") from None
    with cli_store().session() as session:
        key, plain = create_key(session, name, scope_list)
        key_id = key.id
        if budget is not None:
            set_budget(session, "api_key", str(key_id), Decimal(str(budget)), action=on_budget)
    if quiet:
        click.echo(plain)
    else:
        click.echo(f"created key {key_id} '{name}' with scopes {','.join(scope_list)}")
        click.echo(f"key (shown once, store it now): {plain}")


@keys.command("list")
def list_keys() -> None:
    """List keys (never the keys themselves)."""
    with cli_store().session() as session:
        rows = session.scalars(select(ApiKey).order_by(ApiKey.id)).all()
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
        if not revoke_key(session, key_id, running_redis(settings)):
            raise click.ClickException(f"no active key with id {key_id}")
    click.echo(f"revoked key {key_id}")
