"""``tiergate policy check FILE``: validate an operator's policy before deploying it."""
from __future__ import annotations

import click

from app.cli import cli
from app.policy import load_policy
from app.simulate.caching import prefix_checks


@cli.group()
def policy() -> None:
    """Policy file tools."""


@policy.command("check")
@click.argument("file", type=click.Path(dir_okay=False))
def check(file: str) -> None:
    """Validate FILE; errors name the line and the field."""
    loaded = load_policy(file)
    tiers = ", ".join(f"{name}={tier.model}" for name, tier in loaded.tiers.items())
    click.echo(f"{file}: ok — {len(loaded.task_types)} task types; {tiers}; baseline {loaded.baseline_model}")
    click.echo("prompt caching (the provider caches a prefix only from its model's minimum length):")
    for check in prefix_checks(loaded):
        click.echo(f"  {check.line()}")
