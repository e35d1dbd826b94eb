"""Security: only admins change the policy in force; failed logins are limited per address as well."""
from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from app.cli import cli
from app.policy import default_policy_text
from app.store import PolicyVersion, Reviewer
from tests.review_seed import REVIEWER_EMAIL, REVIEWER_PASSWORD, add_reviewer

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
ADMIN_EMAIL = "ada@example.com"
MONTH = "2026-03"


@pytest.fixture
def store(app):
    store = app.extensions["store"]
    add_reviewer(store)  # a plain reviewer
    add_reviewer(store, ADMIN_EMAIL, REVIEWER_PASSWORD, admin=True)
    return store


def login(client, email: str, password: str = REVIEWER_PASSWORD):
    token = TOKEN.search(client.get("/login").get_data(as_text=True)).group(1)
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


def audit_token(client) -> str:
    return TOKEN.search(client.get(f"/review/audit?month={MONTH}").get_data(as_text=True)).group(1)


def ready_to_apply(store) -> None:
    """A month whose classification sample says 'move up a tier' (3 of 20 wrong)."""
    from app import sampling
    from tests.review_seed import add_tier1_answers

    add_tier1_answers(store, MONTH, {"classification": 20})
    with store.session() as session:
        sampling.draw_sample(session, MONTH, seed=1)
    with store.session() as session:
        from app.store import Review
        for index, review in enumerate(session.query(Review).filter_by(kind="audit").order_by(Review.id)):
            review.status, review.audit_correct = "approved" if index >= 3 else "rejected", index >= 3


def test_a_plain_reviewer_gets_403_on_policy_apply_and_rollback(client, store):
    ready_to_apply(store)
    with store.session() as session:  # a version in force, so a rollback would have something to undo
        session.add(PolicyVersion(author="ops", reason="earlier change", content=default_policy_text()))
    login(client, REVIEWER_EMAIL)
    token = audit_token(client)
    page = client.get(f"/review/audit?month={MONTH}").get_data(as_text=True)
    assert 'id="rollback"' not in page and ">Apply<" not in page

    applied = client.post("/review/audit/apply", data={"csrf_token": token, "month": MONTH, "class": "classification"})
    rolled = client.post("/review/audit/rollback", data={"csrf_token": token, "month": MONTH, "why": "x"})
    assert applied.status_code == 403 and rolled.status_code == 403
    assert "Only an admin" in applied.get_data(as_text=True)
    with store.session() as session:
        versions = session.query(PolicyVersion).all()
        assert [(v.reason, v.active) for v in versions] == [("earlier change", True)]  # nothing applied or undone


def test_an_admin_applies_and_rolls_back(client, store):
    ready_to_apply(store)
    login(client, ADMIN_EMAIL)
    token = audit_token(client)
    page = client.get(f"/review/audit?month={MONTH}").get_data(as_text=True)
    assert ">Apply<" in page
    applied = client.post("/review/audit/apply", data={"csrf_token": token, "month": MONTH, "class": "classification"},
                          follow_redirects=True)
    assert applied.status_code == 200 and "Policy version 1 is in force" in applied.get_data(as_text=True)
    rolled = client.post("/review/audit/rollback", data={"csrf_token": token, "month": MONTH}, follow_redirects=True)
    assert "Rolled back" in rolled.get_data(as_text=True)


def test_cli_creates_admins_promotes_and_demotes(settings, store, monkeypatch):
    monkeypatch.setenv("TIERGATE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    runner = CliRunner()
    created = runner.invoke(cli, ["reviewers", "create", "--email", "Owner@Example.com", "--password", "long enough pw",
                                  "--admin"])
    assert created.exit_code == 0, created.output
    assert runner.invoke(cli, ["reviewers", "promote", "--email", REVIEWER_EMAIL]).exit_code == 0
    assert runner.invoke(cli, ["reviewers", "demote", "--email", ADMIN_EMAIL]).exit_code == 0
    assert runner.invoke(cli, ["reviewers", "promote", "--email", "nobody@example.com"]).exit_code == 1
    with store.session() as session:
        roles = {reviewer.email: reviewer.role for reviewer in session.query(Reviewer)}
    assert roles == {"owner@example.com": "admin", REVIEWER_EMAIL: "admin", ADMIN_EMAIL: "reviewer"}
    listed = runner.invoke(cli, ["reviewers", "list"]).output
    assert re.search(r"owner@example\.com +admin +active", listed)


def test_spraying_one_password_over_many_emails_is_limited_per_address(client, store):
    from app.web.auth import MAX_FAILED_LOGINS, MAX_FAILED_LOGINS_PER_ADDRESS

    emails = [f"user{number}@example.com" for number in range(MAX_FAILED_LOGINS_PER_ADDRESS)]
    assert len(emails) > MAX_FAILED_LOGINS  # never limited per email: each is tried once
    for email in emails:
        assert login(client, email, "Summer2026!spray").status_code == 401
    refused = login(client, ADMIN_EMAIL)  # even a right password, from this address, for a while
    assert refused.status_code == 429 and "Too many failed logins" in refused.get_data(as_text=True)
    other_address = client.post("/login", environ_base={"REMOTE_ADDR": "10.9.8.7"}, data={
        "email": ADMIN_EMAIL, "password": REVIEWER_PASSWORD,
        "csrf_token": TOKEN.search(client.get("/login", environ_base={"REMOTE_ADDR": "10.9.8.7"})
                                   .get_data(as_text=True)).group(1)})
    assert other_address.status_code == 302  # another address is not locked out
