"""The review pages behind a reviewer login: redirects, login, CSRF on every form, decisions, conflicts."""
from __future__ import annotations

import re

import pytest

from app.store import Review, Reviewer
from tests.review_seed import REVIEWER_EMAIL, REVIEWER_PASSWORD, add_flagged_draft, add_reviewer

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def store(app):
    add_reviewer(app.extensions["store"])
    return app.extensions["store"]


def csrf(client, path="/login") -> str:
    return TOKEN.search(client.get(path).get_data(as_text=True)).group(1)


def login(client, email=REVIEWER_EMAIL, password=REVIEWER_PASSWORD, next_path=""):
    return client.post("/login", data={"email": email, "password": password, "next": next_path,
                                       "csrf_token": csrf(client)})


@pytest.mark.parametrize("path", ["/review", "/review/rev_x", "/review/audit", "/"])
def test_pages_redirect_to_login(client, store, path):
    answer = client.get(path, follow_redirects=True)
    assert answer.request.path == "/login"
    assert "Log in" in answer.get_data(as_text=True)


def test_login_returns_to_the_page_asked_for(client, store):
    review_id = add_flagged_draft(store)
    first = client.get(f"/review/{review_id}")
    assert first.status_code == 302 and "/login?next=/review/" in first.location
    answer = login(client, next_path=f"/review/{review_id}")
    assert answer.status_code == 302 and answer.location.endswith(f"/review/{review_id}")
    page = client.get(f"/review/{review_id}").get_data(as_text=True)
    assert "Hi, my order #1042" in page and "claude-haiku-4-5" in page and "shorter than 20 characters" in page


def test_wrong_password_and_unknown_email_are_refused_alike(client, store):
    for email, password in ((REVIEWER_EMAIL, "not the password"), ("nobody@example.com", REVIEWER_PASSWORD)):
        answer = login(client, email, password)
        assert answer.status_code == 401 and "Wrong email or password" in answer.get_data(as_text=True)
    assert client.get("/review").status_code == 302


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)", "/\\evil.example",
                                    "/\tevil"])
def test_login_never_redirects_off_site(client, store, target):
    assert login(client, next_path=target).location.endswith("/review")


def test_password_is_stored_hashed(store):
    with store.session() as session:
        stored = session.query(Reviewer).one().password_hash
    assert REVIEWER_PASSWORD not in stored and stored.startswith(("scrypt:", "pbkdf2:"))


def test_queue_lists_and_filters(client, store):
    add_flagged_draft(store)
    add_flagged_draft(store, task_type="classification", reasons=["low_confidence"])
    login(client)
    page = client.get("/review").get_data(as_text=True)
    assert page.count("data-review-id=") == 2 and "pending <b>2</b>" in page
    filtered = client.get("/review?reason=low_confidence").get_data(as_text=True)
    assert filtered.count("data-review-id=") == 1 and "classification" in filtered


def test_edit_and_approve_in_the_page(client, store):
    review_id = add_flagged_draft(store)
    login(client)
    token = csrf(client, f"/review/{review_id}")
    answer = client.post(f"/review/{review_id}/decision", data={
        "csrf_token": token, "action": "approve", "text": "Hi Dana, a replacement ships today.", "minutes_spent": "1.5"})
    assert answer.status_code == 302
    with store.session() as session:
        review = session.get(Review, review_id)
        assert (review.status, review.final_text, review.decided_by, review.minutes_spent) == (
            "approved", "Hi Dana, a replacement ships today.", REVIEWER_EMAIL, 1.5)


def test_second_decision_in_the_page_says_conflict(client, store):
    review_id = add_flagged_draft(store)
    login(client)
    token = csrf(client, f"/review/{review_id}")
    client.post(f"/review/{review_id}/decision", data={"csrf_token": token, "action": "reject", "note": "no"})
    second = client.post(f"/review/{review_id}/decision", data={"csrf_token": token, "action": "approve"})
    assert second.status_code == 409
    assert "already decided (reject by rita@example.com" in second.get_data(as_text=True)


@pytest.mark.parametrize("token", [None, "forged-token"])
def test_forms_without_the_csrf_token_are_refused(client, store, token):
    review_id = add_flagged_draft(store)
    login(client)
    data = {"action": "approve"} | ({"csrf_token": token} if token else {})
    answer = client.post(f"/review/{review_id}/decision", data=data)
    assert answer.status_code == 400 and "CSRF" in answer.get_data(as_text=True)
    assert client.post("/logout", data={}).status_code == 400
    assert client.post("/review/audit/sample", data={"month": "2026-01"}).status_code == 400
    with store.session() as session:
        assert session.get(Review, review_id).status == "pending"


def test_login_form_needs_its_token_too(client, store):
    client.get("/login")
    answer = client.post("/login", data={"email": REVIEWER_EMAIL, "password": REVIEWER_PASSWORD})
    assert answer.status_code == 400
    assert client.get("/review").status_code == 302


def test_logout_ends_the_session(client, store):
    login(client)
    assert client.get("/review").status_code == 200
    client.post("/logout", data={"csrf_token": csrf(client, "/review")})
    assert client.get("/review").status_code == 302


def test_deactivated_reviewer_is_logged_out(client, store):
    login(client)
    with store.session() as session:
        session.query(Reviewer).one().active = False
    assert client.get("/review").status_code == 302


def test_session_cookie_is_httponly_and_samesite(client, store):
    answer = login(client)
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_audit_page_draw_mark_apply_and_roll_back(client, store, app):
    from app.routing.state import current_policy
    from tests.review_seed import add_tier1_answers

    add_tier1_answers(store, "2026-03", {"classification": 20, "translation": 5})
    with store.session() as session:  # applying and rolling back need an admin
        session.query(Reviewer).filter_by(email=REVIEWER_EMAIL).one().role = "admin"
    login(client)
    token = csrf(client, "/review/audit?month=2026-03")
    drawn = client.post("/review/audit/sample", data={"csrf_token": token, "month": "2026-03"}, follow_redirects=True)
    assert "Drew 25 audit items for 2026-03" in drawn.get_data(as_text=True)

    with store.session() as session:
        items = session.query(Review).filter_by(kind="audit", audit_class="classification").order_by(Review.id).all()
        ids = [item.id for item in items]
    page = client.get(f"/review/{ids[0]}").get_data(as_text=True)
    assert "Right (a)" in page and "Wrong (r)" in page and "Re-run" not in page
    for index, review_id in enumerate(ids):
        wrong = index < 3  # 3 of 20 = 15%: move the class up a tier
        client.post(f"/review/{review_id}/decision", data={
            "csrf_token": token, "action": "reject" if wrong else "approve", "correct": "0" if wrong else "1",
            "minutes_spent": "4" if wrong else "0.5", "text": "fixed label" if wrong else ""})
    overview = client.get("/review/audit?month=2026-03").get_data(as_text=True)
    assert "move the class up one tier" in overview and "15.0%" in overview

    applied = client.post("/review/audit/apply", data={"csrf_token": token, "month": "2026-03", "class": "classification"},
                          follow_redirects=True).get_data(as_text=True)
    assert "Policy version 1 is in force" in applied and "classification tier1 -&gt; tier2" in applied
    with app.app_context():
        assert current_policy().task_types["classification"].tier == "tier2"
    rolled = client.post("/review/audit/rollback", data={"csrf_token": token, "month": "2026-03", "why": "budget"},
                         follow_redirects=True).get_data(as_text=True)
    assert "Rolled back; the policy file is in force" in rolled and "rolled back by rita@example.com" in rolled
    assert "budget]" in rolled
    with app.app_context():
        assert current_policy().task_types["classification"].tier == "tier1"


def test_password_guessing_is_slowed_down(client, store):
    for _ in range(10):
        assert login(client, password="guess guess guess").status_code == 401
    refused = login(client)  # even the right password, for a while
    assert refused.status_code == 429 and "Too many failed logins" in refused.get_data(as_text=True)


def test_textarea_line_breaks_come_back_as_sent(client, store):
    review_id = add_flagged_draft(store, draft="Hi Dana,\n\nA new one ships today.\n\nBest, Rita")
    login(client)
    token = csrf(client, f"/review/{review_id}")
    client.post(f"/review/{review_id}/decision", data={"csrf_token": token, "action": "approve",
                                                       "text": "Hi Dana,\r\n\r\nA new one ships today.\r\n\r\nBest, Rita"})
    with store.session() as session:
        assert session.get(Review, review_id).final_text == "Hi Dana,\n\nA new one ships today.\n\nBest, Rita"


def test_an_unknown_item_is_a_page_not_json(client, store):
    login(client)
    answer = client.get("/review/rev_nothing")
    assert answer.status_code == 404 and "no review with id rev_nothing" in answer.get_data(as_text=True)
    assert answer.mimetype == "text/html"
