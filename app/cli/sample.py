"""``tiergate sample [--month YYYY-MM]``: draw a month's quality-audit sample into the review queue now."""
from __future__ import annotations

import click

from app.cli import cli
from app.cli.common import cli_store
from app.errors import InvalidField
from app.sampling import DEFAULT_STRATA, draw_sample, parse_month, previous_month


@cli.command()
@click.option("--month", default=None, help="YYYY-MM; default: last month (the scheduled job's choice).")
@click.option("--seed", default=None, help="Seed for a reproducible draw.")
def sample(month: str | None, seed: str | None) -> None:
    """Draw the stratified sample of tier1 answers (default 50) as audit items; once per month."""
    try:
        month = parse_month(month) if month else previous_month()
    except InvalidField as exc:
        raise click.BadParameter(exc.message, param_hint="--month") from None
    with cli_store().session() as session:
        result = draw_sample(session, month, seed=seed)
    if result.already_drawn:
        click.echo(f"{month}: the sample was drawn before ({result.total} items); nothing new added")
        return
    click.echo(f"{month}: drew {result.total} audit items (target {sum(DEFAULT_STRATA.values())})")
    for name, count in result.drawn.items():
        click.echo(f"  {name:<16} {count:>3} of {result.available[name]} tier1 answers (default {DEFAULT_STRATA[name]})")
    if result.total == 0:
        click.echo(f"no tier1 answers in {month}; try --month with a month that has traffic")
