"""Who may use Tiergate: API keys for integrations and reviewer accounts for people.

The one place both the ``tiergate keys|reviewers`` commands and the admin pages (``/admin``) change
them, so a key made on the page and one made on the command line are the same thing. Storing a key
or a password is ``app.api.auth`` / ``app.web.auth``'s job; this module adds what an operator does with
them: issue a key with its budget, list, revoke; invite, promote, demote and remove a reviewer.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from redis import Redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from app.admin.keys import create_key, parse_scopes, revoke_key
from app.money.budgets import ACTIONS, set_budget
from app.errors import InvalidField, NotFound
from app.store import ApiKey, Reviewer
from app.store.models import ADMIN_ROLE, REVIEWER_ROLE

ROLES = (REVIEWER_ROLE, ADMIN_ROLE)
MIN_PASSWORD_CHARS = 10
MAX_KEY_NAME_CHARS = 200
# An invited reviewer's first password: shown once to the admin who invites, long enough for the
# login's minimum length, changed by handing it over (no e-mail is sent).
INVITE_PASSWORD_BYTES = 12


# -- API keys -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class IssuedKey:
    """A key just created: its id and the plain key, which is shown once and never stored."""

    id: int
    name: str
    scopes: list[str]
    plain: str


def parse_budget(text: str | float | None) -> Decimal | None:
    """A monthly budget in USD from a form field or option: blank is none, otherwise a positive amount."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    try:
        amount = Decimal(str(text).strip())
    except InvalidOperation:
        raise InvalidField("the budget must be an amount in USD, e.g. 20 or 7.50", "budget") from None
    if not amount.is_finite() or amount <= 0:
        raise InvalidField("the budget must be a positive amount in USD", "budget")
    return amount


def issue_key(session: Session, name: str, scopes: str | list[str], *, budget_usd: Decimal | None = None,
              on_budget: str = "refuse") -> IssuedKey:
    """Create a key (and its monthly budget, in the same transaction)."""
    name = (name or "").strip()
    if not name or len(name) > MAX_KEY_NAME_CHARS:
        raise InvalidField(f"give the key a name (who uses it, e.g. n8n-prod; at most {MAX_KEY_NAME_CHARS} "
                           "characters)", "name")
    scope_list = parse_scopes(scopes if isinstance(scopes, str) else ",".join(scopes))
    if on_budget not in ACTIONS:
        raise InvalidField(f"on_budget must be one of {', '.join(ACTIONS)}", "on_budget")
    key, plain = create_key(session, name, scope_list)
    if budget_usd is not None:
        set_budget(session, "api_key", str(key.id), Decimal(budget_usd), action=on_budget)
    return IssuedKey(key.id, name, scope_list, plain)


def list_keys(session: Session) -> list[ApiKey]:
    """Every key, oldest first (never the keys themselves: only their prefix is stored in clear)."""
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def revoke(session: Session, key_id: int, redis_client: Redis | None = None) -> None:
    """Revoke an active key; every process drops its cached lookup, so the next request with it gets 401."""
    if not revoke_key(session, key_id, redis_client):
        raise NotFound(f"no active key with id {key_id}")


# -- reviewer accounts ------------------------------------------------------------------------------

def normalize_email(email: str) -> str:
    return email.strip().lower()


def create_reviewer(session: Session, email: str, password: str, *, admin: bool = False) -> Reviewer:
    """Store a reviewer with a salted scrypt hash of the password (werkzeug's default)."""
    email = normalize_email(email)
    if "@" not in email or len(email) > 320:
        raise InvalidField("give the reviewer's email address", "email")
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidField(f"the password needs at least {MIN_PASSWORD_CHARS} characters", "password")
    if session.scalar(select(Reviewer).where(func.lower(Reviewer.email) == email)) is not None:
        raise InvalidField(f"a reviewer with email {email} already exists", "email")
    reviewer = Reviewer(email=email, password_hash=generate_password_hash(password),
                        role=ADMIN_ROLE if admin else REVIEWER_ROLE)
    session.add(reviewer)
    session.flush()
    return reviewer


def list_reviewers(session: Session) -> list[Reviewer]:
    return list(session.scalars(select(Reviewer).order_by(Reviewer.id)))


def find_reviewer(session: Session, email: str) -> Reviewer:
    reviewer = session.scalar(select(Reviewer).where(func.lower(Reviewer.email) == normalize_email(email)))
    if reviewer is None:
        raise NotFound(f"no reviewer {normalize_email(email)}")
    return reviewer


def invite_reviewer(session: Session, email: str, *, admin: bool = False) -> tuple[Reviewer, str]:
    """Create a reviewer with a generated first password, returned once for the admin to hand over."""
    password = secrets.token_urlsafe(INVITE_PASSWORD_BYTES)
    return create_reviewer(session, email, password, admin=admin), password


def set_role(session: Session, email: str, role: str) -> Reviewer:
    """Make a reviewer an admin or a plain reviewer again."""
    if role not in ROLES:
        raise InvalidField(f"role must be one of {', '.join(ROLES)}", "role")
    reviewer = find_reviewer(session, email)
    if reviewer.role == ADMIN_ROLE and role != ADMIN_ROLE:
        _keep_one_admin(session, reviewer)
    reviewer.role = role
    session.flush()
    return reviewer


def deactivate(session: Session, email: str) -> Reviewer:
    """Stop a reviewer from logging in; their open sessions end with their next request."""
    reviewer = find_reviewer(session, email)
    if reviewer.role == ADMIN_ROLE and reviewer.active:
        _keep_one_admin(session, reviewer)
    reviewer.active = False
    session.flush()
    return reviewer


def _keep_one_admin(session: Session, leaving: Reviewer) -> None:
    """Refuse to take away the last active admin: nobody could then manage the others from the pages."""
    others = session.scalar(select(func.count()).select_from(Reviewer).where(
        Reviewer.role == ADMIN_ROLE, Reviewer.active.is_(True), Reviewer.id != leaving.id)) or 0
    if not others:
        raise InvalidField(f"{leaving.email} is the last active admin; promote someone else first", "email")
