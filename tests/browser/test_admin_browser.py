"""The admin pages in Chromium at phone width (390 px) and laptop width: create a key with a budget and
see it once, invite and promote a reviewer, set a budget, and retry a dead callback that then reaches a
real receiver. Nothing scrolls sideways. Screenshots land in test-artifacts/."""
from __future__ import annotations

import json

import pytest
import requests

from app.execution import outbox
from tests.browser.test_review_browser import log_in
from tests.review_seed import add_reviewer

ADMIN_EMAIL, ADMIN_PASSWORD = "ada@example.com", "admin password 123"


@pytest.mark.parametrize("width", [390, 1366])
def test_admin_pages_at_phone_and_laptop_width(browser, live_server, app, receiver, artifacts, width):
    store = app.extensions["store"]
    add_reviewer(store, ADMIN_EMAIL, ADMIN_PASSWORD, admin=True)
    with store.session() as session:
        dead = outbox.add(session, receiver.url, {"event": "review.decided", "review_id": "rev_dead"})
        dead.status, dead.attempts, dead.last_error = "dead", 6, "ConnectionError: receiver was down"
        dead_id = dead.id
    context = browser.new_context(viewport={"width": width, "height": 844 if width < 500 else 768})
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        log_in(page, live_server, ADMIN_EMAIL, ADMIN_PASSWORD)
        page.get_by_role("link", name="Admin").click()
        page.wait_for_url("**/admin/keys")

        page.fill("[data-testid=new-key] input[name=name]", "n8n-prod")
        page.check("[data-testid=new-key] input[value=review]")
        page.fill("[data-testid=new-key] input[name=budget]", "20")
        page.click("[data-testid=new-key] button[type=submit]")
        plain = page.locator("[data-testid=plain-key]").inner_text().strip()
        assert plain.startswith("tg_")
        _fits(page, width, artifacts, "admin-keys")
        answer = requests.post(f"{live_server}/v1/route", headers={"X-API-Key": plain}, timeout=5,
                               json={"task_type": "classification", "text": "B2B?"})
        assert answer.status_code == 200
        row = page.locator("[data-testid=keys] tr", has_text="n8n-prod")
        assert "$20.00 of $20.00" in row.inner_text()
        row.get_by_role("button", name="Revoke").click()
        page.wait_for_selector("p.flash")
        assert requests.post(f"{live_server}/v1/route", headers={"X-API-Key": plain}, timeout=5,
                             json={"task_type": "classification", "text": "B2B?"}).status_code == 401

        page.get_by_role("link", name="Reviewers").click()
        page.fill("[data-testid=invite] input[name=email]", "nina@example.com")
        page.click("[data-testid=invite] button[type=submit]")
        assert len(page.locator("[data-testid=first-password]").inner_text().strip()) >= 10
        page.locator("[data-testid=reviewers] tr", has_text="nina@example.com").get_by_role(
            "button", name="Promote to admin").click()
        page.wait_for_selector("p.flash")
        assert "admin" in page.locator("[data-testid=reviewers] tr", has_text="nina@example.com").inner_text()
        _fits(page, width, artifacts, "admin-reviewers")

        page.get_by_role("link", name="Budgets").click()
        page.select_option("[data-testid=set-budget] select[name=scope]", "workflow")
        page.fill("[data-testid=set-budget] input[name=workflow]", "invoices")
        page.fill("[data-testid=set-budget] input[name=usd]", "5")
        page.click("[data-testid=set-budget] button[type=submit]")
        row = page.locator("[data-budget='workflow:invoices']")
        assert "$5.00" in row.inner_text() and row.locator(".left").inner_text() == "$5.00"  # readable precision
        _fits(page, width, artifacts, "admin-budgets")

        page.get_by_role("link", name="Callbacks").click()
        _fits(page, width, artifacts, "admin-callbacks")
        page.locator(f"[data-callback-id='{dead_id}']").get_by_role("button", name="Retry").click()
        page.wait_for_selector("p.flash")
        assert [json.loads(body)["review_id"] for _headers, body in receiver.wait(1, timeout=10)] == ["rev_dead"]
        page.reload()
        assert page.locator(f"[data-callback-id='{dead_id}']").count() == 0  # delivered: no longer listed
    finally:
        context.close()


def _fits(page, width: int, artifacts, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}-{width}px.png"), full_page=True)
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"{page.url} is {scroll_width} px wide at {width} px"
