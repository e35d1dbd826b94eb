"""The /reports page and its CSV downloads behind the reviewer login (Flask test client)."""
from __future__ import annotations

import csv
import re
import io
from datetime import datetime, timezone

from app.store import Reviewer
from app.web.reports import default_period
from tests.test_reports_ledger import build_ledger


def log_in(app, client) -> None:
    with app.extensions["store"].session() as session:
        reviewer = Reviewer(email="owner@example.com", password_hash="x")
        session.add(reviewer)
        session.flush()
        reviewer_id = reviewer.id
    with client.session_transaction() as browser_session:
        browser_session["reviewer_id"] = reviewer_id
        browser_session["session_version"] = 0  # a new reviewer's first session


def test_logged_out_visits_go_to_login(client):
    for path in ("/reports", "/reports/savings.csv", "/reports/quality.csv"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_page_shows_totals_attribution_charts_and_classes(app, client):
    with app.extensions["store"].session() as session:
        build_ledger(session)
    log_in(app, client)
    response = client.get("/reports?from=2026-05&to=2026-06")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'data-testid="total-saving">$1.73<' in page  # 1.7295 shown to the cent (half-even)
    # Levers in cents, rounded to add up to the shown saving: 1.35 + 0.29 (0.285 takes the gap) + 0.20 - 0.11 = 1.73.
    assert [cell.strip() for cell in re.findall(r"<td class=\"num[^\"]*\">([^<]+)</td>", page)[:5]] == [
        "$1.35", "$0.29", "$0.20", "−$0.11", "$1.73"]
    assert page.count("<svg") == 4 and "2026-05" in page and "2026-06" in page
    assert "extraction" in page and "support_reply" in page
    assert "https://" not in page and "http://" not in page  # every asset is local


def test_bad_window_falls_back_with_a_message(app, client):
    log_in(app, client)
    page = client.get("/reports?from=yesterday").get_data(as_text=True)
    assert "from: expected YYYY-MM" in page and "No requests in this window yet." in page


def test_csv_downloads_match_the_api(app, client, auth):
    with app.extensions["store"].session() as session:
        build_ledger(session)
    log_in(app, client)
    window = {"from": "2026-05", "to": "2026-06", "group_by": "month"}
    page_csv = client.get("/reports/savings.csv", query_string=window).get_data(as_text=True)
    api_csv = client.get("/v1/reports/savings", query_string={**window, "format": "csv"}, headers=auth).get_data(as_text=True)
    assert page_csv == api_csv
    assert [row["key"] for row in csv.DictReader(io.StringIO(page_csv))] == ["2026-05", "2026-06", "total", "shadow", "judge"]
    quality = client.get("/reports/quality.csv", query_string=window).get_data(as_text=True)
    assert quality.splitlines()[0].startswith("task_type,tier,requests,cost_usd")


def test_default_window_is_the_last_twelve_months():
    assert default_period(datetime(2026, 11, 23, tzinfo=timezone.utc)).start == datetime(2025, 12, 1, tzinfo=timezone.utc)
    assert default_period(datetime(2026, 1, 5, tzinfo=timezone.utc)).start == datetime(2025, 2, 1, tzinfo=timezone.utc)


def test_page_shows_the_display_currency(settings, tmp_path):
    from app import create_app
    from app.config import load_settings
    app = create_app(load_settings(**{**settings.model_dump(by_alias=True), "TIERGATE_DISPLAY_CURRENCY": "eur",
                                      "TIERGATE_DISPLAY_RATE": 0.92}), migrate=False)
    try:
        with app.extensions["store"].session() as session:
            build_ledger(session)
        client = app.test_client()
        log_in(app, client)
        page = client.get("/reports?from=2026-05&to=2026-06").get_data(as_text=True)
        assert "1.35 EUR" in page and "2.94 EUR" in page  # 1.4625 x 0.92 = 1.3455; 3.192 x 0.92 = 2.93664
        assert "EUR at one rate, 0.92 per USD, for every month" in page  # said plainly: no per-month rates
    finally:
        app.extensions["store"].dispose()
