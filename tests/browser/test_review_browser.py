"""The review queue in a real headless Chromium: login, filter, open, edit and approve, reject, conflicts, CSRF."""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import time

import pytest
from sqlalchemy import select

from app.store import Review
from tests.browser.conftest import CALLBACK_SECRET
from tests.review_seed import CUSTOMER_MESSAGE, DRAFT_REPLY, REVIEWER_EMAIL, REVIEWER_PASSWORD, add_flagged_draft, \
    add_reviewer

EDITED_REPLY = "Hi Dana, so sorry about the broken order #1042. A replacement ships today, no need to send it back."


@pytest.fixture
def store(app):
    store = app.extensions["store"]
    add_reviewer(store)
    add_reviewer(store, "sam@example.com", "another long password")
    return store


def log_in(page, base: str, email: str = REVIEWER_EMAIL, password: str = REVIEWER_PASSWORD, path: str = "/review"):
    page.goto(base + path)
    assert "/login" in page.url
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(re.escape(base + path) + r"$"))


def assert_signed(headers: dict[str, str], body: bytes) -> None:
    """Verified as a receiver would from docs/architecture.md, "API contract": HMAC-SHA256 of "<timestamp>.<body>"."""
    stamp = headers["X-Tiergate-Timestamp"]
    expected = "sha256=" + hmac.new(CALLBACK_SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Tiergate-Signature"], expected)
    assert abs(time.time() - int(stamp)) < 300


def test_pages_redirect_to_login_when_logged_out(page, live_server, store):
    review_id = add_flagged_draft(store)
    page.goto(f"{live_server}/review/{review_id}")
    assert page.url == f"{live_server}/login?next=/review/{review_id}"
    assert page.locator("h1").inner_text() == "Log in"


def test_filter_open_edit_approve_and_the_workflow_gets_the_edited_reply(page, live_server, store, receiver, run_jobs,
                                                                         artifacts):
    review_id = add_flagged_draft(store, callback_url=receiver.url, metadata={"workflow": "support-replies"})
    other_id = add_flagged_draft(store, task_type="classification", reasons=["low_confidence"], draft='{"label": "B2B"}',
                                 input_text="Acme GmbH, 40 staff")
    log_in(page, live_server)
    rows = page.locator("table.queue tbody tr")
    assert rows.count() == 2
    page.screenshot(path=str(artifacts / "review-list.png"), full_page=True)

    page.select_option("select[name=reason]", "external")  # the filter form submits on change
    page.wait_for_url(re.compile(r"reason=external"))
    assert rows.count() == 1 and page.locator(f"tr[data-review-id='{review_id}']").count() == 1
    page.select_option("select[name=task_type]", "classification")
    page.wait_for_url(re.compile(r"task_type=classification"))
    assert page.locator("p.empty").is_visible()
    page.goto(f"{live_server}/review?task_type=classification")
    assert page.locator(f"tr[data-review-id='{other_id}']").count() == 1

    page.goto(f"{live_server}/review?reason=external")
    page.click(f"a[href='/review/{review_id}']")
    page.wait_for_url(f"{live_server}/review/{review_id}")
    assert CUSTOMER_MESSAGE in page.locator("[data-testid=input]").inner_text()
    assert page.locator("#draft-text").input_value() == DRAFT_REPLY
    assert page.locator("table.attempts tbody tr.failed").count() == 1  # the tier1 try that failed its gate
    page.screenshot(path=str(artifacts / "review-item.png"), full_page=True)

    page.fill("#draft-text", EDITED_REPLY)
    page.fill("#note", "made it warmer")
    page.click("#approve")
    page.wait_for_url(f"{live_server}/review/{other_id}")  # on to the next pending item
    assert "Approved" in page.locator(".flash").inner_text()

    run_jobs()
    [(headers, body)] = receiver.wait(1)
    assert_signed(headers, body)
    [payload] = receiver.payloads()
    assert payload["event"] == "review.decided" and payload["review_id"] == review_id
    assert payload["action"] == "approve" and payload["output"] == EDITED_REPLY
    assert payload["decided_by"] == REVIEWER_EMAIL and payload["minutes_spent"] > 0
    assert payload["metadata"] == {"workflow": "support-replies"}
    with store.session() as session:
        assert session.get(Review, review_id).final_text == EDITED_REPLY


def test_reject_with_a_note_by_keyboard(page, live_server, store, receiver, run_jobs):
    review_id = add_flagged_draft(store, callback_url=receiver.url)
    log_in(page, live_server, path=f"/review/{review_id}")
    page.fill("#note", "promises a refund we do not give")
    page.locator("#draft-text").press("Escape")  # leave the text box, then use the shortcut
    page.keyboard.press("r")  # arms the button: a stray key never sends anything
    assert page.locator("#reject").inner_text() == "Press r again to reject"
    assert page.url == f"{live_server}/review/{review_id}"
    page.keyboard.press("r")
    page.wait_for_url(f"{live_server}/review")
    run_jobs()
    receiver.wait(1)
    [payload] = receiver.payloads()
    assert (payload["action"], payload["output"], payload["note"]) == ("reject", None, "promises a refund we do not give")
    page.goto(f"{live_server}/review/{review_id}")
    assert page.locator("[data-testid=status]").inner_text() == "rejected"


def test_second_reviewer_gets_a_clear_conflict_and_nothing_is_sent_twice(browser, page, live_server, store, receiver,
                                                                         run_jobs):
    review_id = add_flagged_draft(store, callback_url=receiver.url)
    log_in(page, live_server, path=f"/review/{review_id}")
    other_context = browser.new_context()
    try:
        other = other_context.new_page()
        log_in(other, live_server, "sam@example.com", "another long password", path=f"/review/{review_id}")
        page.click("#approve")
        page.wait_for_url(f"{live_server}/review")
        other.fill("#draft-text", "Sam's version")
        with other.expect_response(f"{live_server}/review/{review_id}/decision") as response:
            other.click("#approve")
        assert response.value.status == 409
        message = other.locator("[data-testid=decision-error]").inner_text()
        assert "already decided (approve by rita@example.com" in message and "nothing was sent again" in message
    finally:
        other_context.close()
    run_jobs()
    receiver.wait(1)
    assert [p["output"] for p in receiver.payloads()] == [DRAFT_REPLY]


def test_a_form_with_a_forged_csrf_token_is_refused(page, live_server, store):
    review_id = add_flagged_draft(store)
    log_in(page, live_server, path=f"/review/{review_id}")
    page.eval_on_selector("#decision-form input[name=csrf_token]", "el => el.value = 'forged'")
    with page.expect_response(f"{live_server}/review/{review_id}/decision") as response:
        page.click("#approve")
    assert response.value.status == 400
    assert "CSRF" in page.locator("p.error").inner_text()
    with store.session() as session:
        assert session.get(Review, review_id).status == "pending"


def test_logout(page, live_server, store):
    log_in(page, live_server)
    page.click("form.logout button")
    page.wait_for_url(f"{live_server}/login")
    page.goto(f"{live_server}/review")
    assert "/login" in page.url


def test_a_fallback_reply_draft_is_edited_in_the_browser_and_the_workflow_resumes(page, live_server, app, store,
                                                                                   client, make_key, receiver, run_jobs):
    """The issue's "done when": /v1/fallback -> queue -> edit and approve -> the callback has the edited reply."""
    answer = client.post("/v1/fallback", headers={"X-API-Key": make_key(["fallback"])}, json={
        "task_type": "support_reply", "text": CUSTOMER_MESSAGE, "external": True, "exec": "async",
        "callback_url": receiver.url, "metadata": {"workflow": "n8n-support", "ticket": "T-7"}})
    assert answer.status_code == 202, answer.json
    run_jobs()  # the worker runs the cascade (dry-run provider): the draft waits for review
    with store.session() as session:
        review = session.scalars(select(Review).where(Review.request_id == answer.json["job_id"])).one()
        review_id, draft = review.id, review.draft
    assert review.status == "pending" and draft

    log_in(page, live_server)
    page.click(f"a[href='/review/{review_id}']")
    assert page.locator("#draft-text").input_value() == draft
    page.fill("#draft-text", EDITED_REPLY)
    page.click("#approve")
    page.wait_for_url(f"{live_server}/review")
    run_jobs()

    decided = [(headers, body) for headers, body in receiver.wait(1) if json.loads(body)["event"] == "review.decided"]
    [(headers, body)] = decided
    assert_signed(headers, body)
    payload = json.loads(body)
    assert (payload["review_id"], payload["action"], payload["output"]) == (review_id, "approve", EDITED_REPLY)
    assert payload["job_id"] == answer.json["job_id"]
    assert payload["metadata"] == {"workflow": "n8n-support", "ticket": "T-7"}


def test_audit_sample_is_drawn_marked_and_shows_its_recommendation(page, live_server, store, artifacts):
    from tests.review_seed import add_tier1_answers

    add_tier1_answers(store, "2026-03", {"translation": 2})
    log_in(page, live_server, path="/review/audit?month=2026-03")
    page.click("#draw-sample")
    assert "Drew 2 audit items for 2026-03" in page.locator(".flash").inner_text()

    page.goto(f"{live_server}/review?kind=audit")
    page.locator("table.queue tbody tr a").first.click()
    page.wait_for_url(re.compile(r"/review/rev_"))
    first = page.url
    page.keyboard.press("a")
    page.keyboard.press("a")  # right
    page.wait_for_url(lambda url: url != first and "/review/rev_" in url)  # on to the next pending item
    page.fill("#draft-text", "the corrected translation")
    page.click("#reject")  # wrong, with the correction
    page.wait_for_url(f"{live_server}/review")

    page.goto(f"{live_server}/review/audit?month=2026-03")
    row = page.locator("tr[data-class=translation]")
    assert row.locator("td").nth(3).inner_text() == "1" and "50.0%" in row.inner_text()
    assert "move the class up one tier" in row.inner_text()
    page.screenshot(path=str(artifacts / "review-audit.png"), full_page=True)
    with store.session() as session:
        marks = sorted((r.audit_correct, r.final_text) for r in session.scalars(select(Review).where(Review.kind == "audit")))
    assert [correct for correct, _text in marks] == [False, True] and marks[0][1] == "the corrected translation"
