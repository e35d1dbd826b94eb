"""The admin pages (/admin) behind an admin login: keys, reviewers, budgets and failed callbacks, through
the same services as the CLI; CSRF on every form; reviewers who are not admins get 403."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.execution import outbox
from app.store import ApiKey, Delivery, Reviewer, utcnow
from app.store.models import Budget
from tests.review_seed import REVIEWER_EMAIL, add_reviewer
from tests.test_review_pages import csrf, login

ADMIN_EMAIL = "ada@example.com"
ADMIN_PASSWORD = "admin password 123"
ROUTE_BODY = {"task_type": "classification", "text": "Acme GmbH, B2B or B2C?"}


@pytest.fixture
def admin_client(app, client):
    store = app.extensions["store"]
    add_reviewer(store, ADMIN_EMAIL, ADMIN_PASSWORD, admin=True)
    add_reviewer(store)  # a plain reviewer
    assert login(client, ADMIN_EMAIL, ADMIN_PASSWORD).status_code == 302
    return client


def _post(client, path, data, page=None):
    return client.post(path, data={**data, "csrf_token": csrf(client, page or path)})


@pytest.mark.parametrize("path", ["/admin/keys", "/admin/reviewers", "/admin/budgets", "/admin/callbacks"])
def test_only_admins_see_the_admin_pages(app, client, path):
    add_reviewer(app.extensions["store"])
    assert client.get(path).status_code == 302  # to /login
    login(client)
    assert client.get(path).status_code == 403
    assert "Admin" not in client.get("/review").get_data(as_text=True).split("<main>")[0]


def test_key_is_created_with_scopes_and_budget_shown_once_and_revoked(app, admin_client):
    assert ">Admin<" in admin_client.get("/review").get_data(as_text=True)
    page = _post(admin_client, "/admin/keys", {"name": "n8n-prod", "scopes": ["route", "review"], "budget": "12.50",
                                               "on_budget": "downgrade"})
    assert page.status_code == 201
    html = page.get_data(as_text=True)
    plain = re.search(r'data-testid="plain-key">(tg_[^<]+)<', html).group(1)
    assert "shown only this once" in html
    assert admin_client.post("/v1/route", json=ROUTE_BODY, headers={"X-API-Key": plain}).status_code == 200
    # Shown once: the next view of the page does not carry it.
    assert plain not in admin_client.get("/admin/keys").get_data(as_text=True)
    with app.extensions["store"].session() as session:
        key = session.scalar(select(ApiKey).where(ApiKey.name == "n8n-prod"))
        budget = session.scalar(select(Budget).where(Budget.scope == "api_key", Budget.subject == str(key.id)))
        assert key.scopes == "route,review" and float(budget.limit_usd) == 12.5 and budget.action == "downgrade"
        key_id = key.id
    assert "$12.50 of $12.50" in admin_client.get("/admin/keys").get_data(as_text=True)

    revoked = _post(admin_client, f"/admin/keys/{key_id}/revoke", {}, "/admin/keys")
    assert revoked.status_code == 302
    assert admin_client.post("/v1/route", json=ROUTE_BODY, headers={"X-API-Key": plain}).status_code == 401
    again = _post(admin_client, f"/admin/keys/{key_id}/revoke", {}, "/admin/keys")
    assert again.status_code == 404 and f"no active key with id {key_id}" in again.get_data(as_text=True)


@pytest.mark.parametrize("form, field", [({"name": "", "scopes": ["route"]}, "name"),
                                         ({"name": "x"}, "scopes"),
                                         ({"name": "x", "scopes": ["route"], "budget": "ten"}, "budget"),
                                         ({"name": "x", "scopes": ["route"], "budget": "-3"}, "budget")])
def test_bad_key_forms_name_the_field_and_create_nothing(app, admin_client, form, field):
    page = _post(admin_client, "/admin/keys", form)
    assert page.status_code == 422
    assert f'data-field="{field}"' in page.get_data(as_text=True)
    with app.extensions["store"].session() as session:
        assert session.scalars(select(ApiKey)).all() == []


def test_reviewers_are_invited_promoted_and_removed(app, admin_client, client):
    page = _post(admin_client, "/admin/reviewers", {"email": "Nina@Example.com", "role": "reviewer"})
    assert page.status_code == 201
    password = re.search(r'data-testid="first-password">([^<]+)<', page.get_data(as_text=True)).group(1)
    assert _post(admin_client, "/admin/reviewers/role", {"email": "nina@example.com", "role": "admin"},
                 "/admin/reviewers").status_code == 302
    with app.extensions["store"].session() as session:
        assert session.scalar(select(Reviewer.role).where(Reviewer.email == "nina@example.com")) == "admin"
    duplicate = _post(admin_client, "/admin/reviewers", {"email": "nina@example.com"})
    assert duplicate.status_code == 422 and "already exists" in duplicate.get_data(as_text=True)

    # The invited reviewer logs in with the first password, in a browser session of their own.
    other = app.test_client()
    assert login(other, "nina@example.com", password).headers["Location"].endswith("/review")
    assert other.get("/admin/keys").status_code == 200  # promoted

    assert _post(admin_client, "/admin/reviewers/remove", {"email": "nina@example.com"},
                 "/admin/reviewers").status_code == 302
    assert other.get("/admin/keys").status_code == 302  # their session ends with the next request
    assert login(app.test_client(), "nina@example.com", password).status_code == 401


def test_the_last_admin_cannot_be_demoted_or_removed(app, admin_client):
    for path, data in (("/admin/reviewers/role", {"email": ADMIN_EMAIL, "role": "reviewer"}),
                       ("/admin/reviewers/remove", {"email": ADMIN_EMAIL})):
        page = _post(admin_client, path, data, "/admin/reviewers")
        assert page.status_code == 422 and "last active admin" in page.get_data(as_text=True)
    with app.extensions["store"].session() as session:
        me = session.scalar(select(Reviewer).where(Reviewer.email == ADMIN_EMAIL))
        assert me.role == "admin" and me.active


def test_budgets_are_set_and_show_spent_and_left(app, admin_client):
    assert _post(admin_client, "/admin/budgets", {"scope": "workflow", "workflow": "invoices", "usd": "5",
                                                  "period": "day", "on_budget": "refuse", "alert_pct": "80"}
                 ).status_code == 302
    with app.extensions["store"].session() as session:
        budget = session.scalar(select(Budget).where(Budget.subject == "invoices"))
        budget.spent_usd = 1.25
    html = admin_client.get("/admin/budgets").get_data(as_text=True)
    row = re.search(r'<tr data-budget="workflow:invoices">(.*?)</tr>', html, re.S).group(1)
    assert "$5.00<" in row and "$1.25<" in row and "$3.75<" in row and "25.0%" in row
    bad = _post(admin_client, "/admin/budgets", {"scope": "workflow", "workflow": "x", "usd": "0"})
    assert bad.status_code == 422 and 'data-field="budget"' in bad.get_data(as_text=True)
    refused = _post(admin_client, "/admin/budgets", {"scope": "workflow", "workflow": "x", "usd": "3",
                                                     "alert_url": "http://10.1.2.3/hook"})
    assert refused.status_code == 422 and 'data-field="alert_url"' in refused.get_data(as_text=True)
    missing = _post(admin_client, "/admin/budgets", {"scope": "api_key", "key_id": "", "usd": "3"})
    assert missing.status_code == 422 and 'data-field="key_id"' in missing.get_data(as_text=True)
    unknown = _post(admin_client, "/admin/budgets", {"scope": "api_key", "key_id": "999", "usd": "3"})
    assert unknown.status_code == 422 and "no active API key with id 999" in unknown.get_data(as_text=True)


def test_forms_without_csrf_are_refused(app, admin_client):
    assert admin_client.post("/admin/keys", data={"name": "x", "scopes": "route"}).status_code == 400
    with app.extensions["store"].session() as session:
        assert session.scalars(select(ApiKey)).all() == []


def test_dead_and_failing_callbacks_are_listed_and_retried(app, admin_client, settings):
    store = app.extensions["store"]
    with store.session() as session:
        dead = outbox.add(session, "http://127.0.0.1:9/hook?token=secret-token", {"event": "review.decided"},
                          review_id="rev_1")
        dead.status, dead.attempts, dead.last_error = "dead", 6, "ConnectionError: refused"
        failing = outbox.add(session, "http://127.0.0.1:9/other", {"event": "job.finished"}, request_id="req_1")
        failing.attempts, failing.last_error = 2, "CallbackDeliveryError: HTTP 500"
        failing.next_attempt_at = utcnow() + timedelta(minutes=5)
        delivered = outbox.add(session, "http://127.0.0.1:9/ok", {"event": "job.finished"})
        delivered.status = "delivered"
        ids = dead.id, failing.id, delivered.id
    html = admin_client.get("/admin/callbacks").get_data(as_text=True)
    assert f'data-callback-id="{ids[0]}"' in html and f'data-callback-id="{ids[1]}"' in html
    assert f'data-callback-id="{ids[2]}"' not in html
    assert "secret-token" not in html and "ConnectionError: refused" in html
    retried = _post(admin_client, f"/admin/callbacks/{ids[0]}/retry", {}, "/admin/callbacks")
    assert retried.status_code == 302
    with store.session() as session:
        row = session.get(Delivery, ids[0])
        # Back in line with fresh tries: 6 tries went to 0, and the retry's own try may be running (claimed:
        # 1 try, still pending) or already over (refused: loopback is not an allowed callback host here).
        assert (row.status, row.attempts) in (("pending", 0), ("pending", 1), ("dead", 1))
    assert _post(admin_client, f"/admin/callbacks/{ids[2]}/retry", {}, "/admin/callbacks").status_code == 409


def test_reports_page_lists_callbacks_that_failed_for_good(app, client):
    """The outbox's own docstring promised it; until now they showed only on GET /v1/jobs/<id>."""
    store = app.extensions["store"]
    add_reviewer(store)
    login(client)
    assert "every callback was delivered" in client.get("/reports").get_data(as_text=True)
    with store.session() as session:
        dead = outbox.add(session, "http://n8n.lan:5678/webhook-waiting/9?token=t0ken", {"event": "review.decided"},
                          review_id="rev_gone")
        dead.status, dead.attempts, dead.last_error = "dead", 6, "CallbackDeliveryError: HTTP 404"
    html = client.get("/reports").get_data(as_text=True)
    section = html[html.index('data-testid="dead-callbacks"'):]
    assert "1 callback could not be delivered" in section and "n8n.lan" in section and "HTTP 404" in section
    assert "rev_gone" in section and "t0ken" not in html
