"""Every operator page at phone width (390 px) and laptop width (1366 px) in Chromium: nothing scrolls
sideways, the top bar keeps "Log out" on screen; bulk approve and search work in the browser.
Screenshots land in test-artifacts/."""
from __future__ import annotations

import json

import pytest

from app.store import Review
from tests.browser.test_reports_page import seed_traffic
from tests.browser.test_review_browser import log_in
from tests.review_seed import add_flagged_draft, add_reviewer

WIDTHS = {"phone": 390, "laptop": 1366}
LONG_DRAFT = ("Dear customer, thank you for your patience with order 10482-XL-REPLACEMENT-SHADE-ANTHRACITE; "
              "https://shop.example.com/orders/10482/returns/label?token=" + "x" * 80)


@pytest.fixture
def seeded(app):
    store = app.extensions["store"]
    add_reviewer(store)
    seed_traffic(store)
    ids = [add_flagged_draft(store, reasons=("gates_failed",), draft=f"label {i}",
                             metadata={"customer": f"Customer {i}", "workflow": "leads"}) for i in range(60)]
    ids.append(add_flagged_draft(store, draft=LONG_DRAFT, metadata={"customer": "Maria Rossi", "workflow": "support"}))
    return ids


@pytest.mark.parametrize("device", list(WIDTHS))
def test_pages_fit_the_screen(browser, live_server, seeded, artifacts, device):
    width = WIDTHS[device]
    context = browser.new_context(viewport={"width": width, "height": 844 if width < 500 else 768})
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        log_in(page, live_server)
        for name, path in (("review-list", "/review"), ("review-item", f"/review/{seeded[-1]}"),
                           ("reports", "/reports")):
            page.goto(live_server + path)
            page.screenshot(path=str(artifacts / f"{name}-{width}px.png"), full_page=True)
            scroll_width = page.evaluate("document.documentElement.scrollWidth")
            assert scroll_width <= width, f"{path} is {scroll_width} px wide at {width} px"
            logout = page.get_by_role("button", name="Log out").bounding_box()
            assert logout and logout["x"] + logout["width"] <= width, f"Log out is off screen on {path}"
    finally:
        context.close()


def test_search_pages_and_bulk_approve_in_the_browser(page, live_server, seeded, app, receiver, run_jobs):
    store = app.extensions["store"]
    low = [add_flagged_draft(store, reasons=("gates_failed",), draft=f"bulk {i}", callback_url=receiver.url,
                             metadata={"workflow": "bulk-flow"}) for i in range(3)]
    log_in(page, live_server)
    page.fill("[data-testid=search]", "bulk-flow")
    page.press("[data-testid=search]", "Enter")
    page.wait_for_url("**q=bulk-flow**")
    assert page.locator("table.queue tbody tr").count() == 3

    page.goto(live_server + "/review")
    assert "1–50 of 64" in page.locator("[data-testid=shown]").inner_text()
    page.click("a[rel=next]")
    assert page.locator("table.queue tbody tr").count() == 14

    page.goto(live_server + "/review?q=bulk-flow")
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    page.check("#select-low-risk")
    assert page.locator("#bulk-approve").inner_text() == "Approve 3 selected"
    page.click("#bulk-approve")
    page.wait_for_selector(".flash")
    assert len(dialogs) == 1 and "Approve 3 items" in dialogs[0]
    assert "Approved 3 items" in page.locator(".flash").inner_text()
    run_jobs()
    receiver.wait(3)
    payloads = receiver.payloads()
    assert sorted(p["review_id"] for p in payloads) == sorted(low)
    assert {p["event"] for p in payloads} == {"review.decided"}
    with store.session() as session:
        assert {session.get(Review, review_id).status for review_id in low} == {"approved"}
    run_jobs()
    assert len(receiver.calls) == 3  # once each
    assert all(json.loads(body)["action"] == "approve" for _headers, body in receiver.calls)
