"""The ``tiergate`` command. Each subcommand group lives in its own module of this package."""
from __future__ import annotations

import sys

import click

from app.errors import ConfigError, PolicyError


@click.group()
def cli() -> None:
    """Tiergate: route each LLM task to the cheapest tier that does it well."""


from app.cli import keys, policy, up  # noqa: E402,F401  (subcommands register on cli)
from app.cli import reviewers, sample  # noqa: E402,F401
from app.cli import simulate  # noqa: E402,F401
from app.cli import router  # noqa: E402,F401
from app.cli import budgets  # noqa: E402,F401
from app.cli import shadow  # noqa: E402,F401
from app.cli import export  # noqa: E402,F401


def main() -> None:
    try:
        cli(standalone_mode=True)
    except (ConfigError, PolicyError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
