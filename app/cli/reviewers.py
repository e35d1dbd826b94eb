"""``tiergate reviewers create|list|deactivate``: the people who work the review queue."""
from __future__ import annotations

import click
from sqlalchemy import select

from app.cli import cli
from app.cli.common import cli_store
from app.errors import InvalidField
from app.store import Reviewer
from app.web.auth import create_reviewer, normalize_email


@cli.group()
def reviewers() -> None:
    """Create and list reviewer accounts for the /review pages."""


@reviewers.command("create")
@click.option("--email", required=True, help="The reviewer's login.")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="Asked for when not given (avoid passing it on a shared machine's command line).")
def create(email: str, password: str) -> None:
    """Create a reviewer; only a salted hash of the password is stored."""
    try:
        with cli_store().session() as session:
            reviewer = create_reviewer(session, email, password)
            reviewer_id = reviewer.id
    except InvalidField as exc:
        raise click.BadParameter(exc.message, param_hint=f"--{exc.field}") from None
    click.echo(f"created reviewer {reviewer_id} {normalize_email(email)}; log in at /login")


@reviewers.command("list")
def list_reviewers() -> None:
    """List reviewer accounts."""
    with cli_store().session() as session:
        for reviewer in session.scalars(select(Reviewer).order_by(Reviewer.id)):
            state = "active" if reviewer.active else "deactivated"
            click.echo(f"{reviewer.id:>4}  {reviewer.email:<40} {state}")


@reviewers.command("deactivate")
@click.option("--email", required=True)
def deactivate(email: str) -> None:
    """Stop a reviewer from logging in (their open sessions end with their next request)."""
    with cli_store().session() as session:
        reviewer = session.scalar(select(Reviewer).where(Reviewer.email == normalize_email(email)))
        if reviewer is None:
            raise click.ClickException(f"no reviewer {email}")
        reviewer.active = False
    click.echo(f"deactivated {normalize_email(email)}")
