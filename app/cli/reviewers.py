"""``tiergate reviewers create|list|promote|demote|deactivate``: the people who work the review queue.

Reviewers are managed here, on the machine, or by an admin on the /admin pages (both through
``app.admin.accounts``); an admin reviewer may also change the policy in force from the audit page.
"""
from __future__ import annotations

import click

from app.admin import accounts
from app.admin.accounts import create_reviewer, normalize_email
from app.cli import cli
from app.cli.common import cli_store
from app.errors import ApiError, InvalidField
from app.store.models import ADMIN_ROLE, REVIEWER_ROLE


@cli.group()
def reviewers() -> None:
    """Create and list reviewer accounts for the /review pages."""


@reviewers.command("create")
@click.option("--email", required=True, help="The reviewer's login.")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="Asked for when not given (avoid passing it on a shared machine's command line).")
@click.option("--admin", is_flag=True, help="May also apply and roll back policy versions.")
def create(email: str, password: str, admin: bool) -> None:
    """Create a reviewer; only a salted hash of the password is stored."""
    try:
        with cli_store().session() as session:
            reviewer = create_reviewer(session, email, password, admin=admin)
            reviewer_id, role = reviewer.id, reviewer.role
    except InvalidField as exc:
        raise click.BadParameter(exc.message, param_hint=f"--{exc.field}") from None
    click.echo(f"created {role} {reviewer_id} {normalize_email(email)}; log in at /login")


@reviewers.command("list")
def list_reviewers() -> None:
    """List reviewer accounts."""
    with cli_store().session() as session:
        for reviewer in accounts.list_reviewers(session):
            state = "active" if reviewer.active else "deactivated"
            click.echo(f"{reviewer.id:>4}  {reviewer.email:<40} {reviewer.role:<9} {state}")


def _set_role(email: str, role: str) -> None:
    try:
        with cli_store().session() as session:
            accounts.set_role(session, email, role)
    except ApiError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"{normalize_email(email)} is now {'an admin' if role == ADMIN_ROLE else 'a reviewer'}")


@reviewers.command("promote")
@click.option("--email", required=True)
def promote(email: str) -> None:
    """Make a reviewer an admin (may apply and roll back policy versions)."""
    _set_role(email, ADMIN_ROLE)


@reviewers.command("demote")
@click.option("--email", required=True)
def demote(email: str) -> None:
    """Make an admin a plain reviewer again."""
    _set_role(email, REVIEWER_ROLE)


@reviewers.command("deactivate")
@click.option("--email", required=True)
def deactivate(email: str) -> None:
    """Stop a reviewer from logging in (their open sessions end with their next request)."""
    try:
        with cli_store().session() as session:
            accounts.deactivate(session, email)
    except ApiError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"deactivated {normalize_email(email)}")
