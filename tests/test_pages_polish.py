"""Page polish a new user sees first: queue rows named by customer, subject and first line instead of
an opaque id, and no red "saving" on a fresh install before there is traffic to judge."""
from __future__ import annotations

import re
from datetime import datetime, timezone

from tests.review_seed import add_flagged_draft, add_reviewer
from tests.test_reports_ledger import POLICY, add_request, call
from tests.test_review_pages import login

SONNET, OPUS = POLICY.model_for("tier2"), POLICY.model_for("tier3")


def test_queue_rows_show_customer_subject_and_first_line(app, client):
    store = app.extensions["store"]
    add_reviewer(store)
    add_flagged_draft(store, input_text="\n  Hello, my invoice 2291 was charged twice.\nPlease refund one.",
                      metadata={"customer_email": "maria.rossi@example.com", "subject": "Invoice 2291"})
    bare = add_flagged_draft(store, input_text="Where is my parcel? It was due on Monday.")
    login(client)
    html = client.get("/review").get_data(as_text=True)
    rows = re.findall(r'<td data-label="Item" class="item-summary">(.*?)</td>', html, re.S)
    text = [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip() for row in rows]
    assert any(line.startswith("maria.rossi@example.com · Invoice 2291 Hello, my invoice 2291 was charged twice.")
               for line in text), text
    # Without metadata, the first line of the input names the row; the id stays, small, underneath.
    assert any(line.startswith("Where is my parcel? It was due on Monday.") and line.endswith(bare) for line in text)


def _traffic(store, count: int) -> None:
    """Requests answered on Opus: each costs more than the Sonnet baseline, a loss whatever the volume."""
    with store.session() as session:
        for index in range(count):
            add_request(session, datetime.now(timezone.utc), "strategy", None, "flow",
                        [call("answer", "tier3", OPUS, 2000, 300)])


def _saving_card(client) -> str:
    html = client.get("/reports").get_data(as_text=True)
    return re.search(r'<div class="card ([^"]*)" data-testid="saving-card">(.*?)</div>', html, re.S).groups()


def test_fresh_install_shows_no_red_saving_before_there_is_traffic(app, client):
    store = app.extensions["store"]
    add_reviewer(store)
    login(client)
    _traffic(store, 2)
    css_class, body = _saving_card(client)
    assert css_class == "early" and "Too early to judge: 2 requests" in body
    assert "−$" in body  # the figure is still shown, just not judged


def test_the_saving_is_judged_once_traffic_flows(app, client):
    store = app.extensions["store"]
    add_reviewer(store)
    login(client)
    _traffic(store, 25)
    css_class, body = _saving_card(client)
    assert css_class == "bad" and "Too early" not in body
