"""The /reports page in a real headless Chromium: three months of recorded traffic, charts, attribution,
per-class health; a screenshot lands in test-artifacts/."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from tests.review_seed import REVIEWER_EMAIL, REVIEWER_PASSWORD, add_reviewer
from tests.test_reports_ledger import POLICY, add_request, call

HAIKU, SONNET, OPUS = (POLICY.model_for(tier) for tier in ("tier1", "tier2", "tier3"))
# (task type, requests per month, escalate every n-th, tier of the answer, input, output, cached prefix, batch)
TRAFFIC = [
    ("classification", 60, 12, "tier1", 1500, 60, 0, True),
    ("extraction", 40, 8, "tier1", 2500, 200, 0, False),
    ("crm_cleanup", 20, 1, "tier1", 1200, 180, 0, False),  # always escalates: the page must say so
    ("support_reply", 30, 0, "tier2", 5000, 400, 4000, False),
    ("summary", 20, 5, "tier2", 6000, 500, 0, False),
    ("strategy", 4, 0, "tier3", 7000, 1500, 0, False),
]


def months_back(count: int) -> list[datetime]:
    now = datetime.now(timezone.utc)
    index = now.year * 12 + now.month - 1
    return [datetime((index - back) // 12, (index - back) % 12 + 1, 1, tzinfo=timezone.utc) for back in range(count)][::-1]


def seed_traffic(store) -> int:
    """Three months of ledger rows shaped like the cascade writes them; returns the request count."""
    count = 0
    with store.session() as session:
        for month_number, month in enumerate(months_back(3)):
            for task_type, per_month, every, tier, tokens_in, tokens_out, prefix, batch in TRAFFIC:
                model = POLICY.model_for(tier)
                for index in range(per_month + month_number * per_month // 4):
                    escalate = every and index % every == 0
                    attempts = []
                    if escalate:
                        attempts.append(call("retry", tier, model, tokens_in, tokens_out, ok=False, gate="json"))
                    answer_tier = POLICY.next_tier(tier) if escalate else tier
                    attempts.append(call("answer", answer_tier, POLICY.model_for(answer_tier), tokens_in - prefix,
                                         tokens_out, cache_read=prefix if index else 0,
                                         cache_write=0 if index else prefix, batch=batch and not escalate,
                                         latency_ms=300.0 + 40 * (index % 10)))
                    created = month + timedelta(days=index % 27, hours=index % 24)
                    add_request(session, created, task_type, None, f"{task_type}-flow", attempts, escalated=bool(escalate),
                                needs_review=task_type == "support_reply", latency_ms=400.0 + 90 * (index % 20),
                                batch=batch)
                    count += 1
    return count


@pytest.fixture
def seeded(app):
    store = app.extensions["store"]
    add_reviewer(store)
    return seed_traffic(store)


def test_reports_page_shows_the_months_charts_attribution_and_advice(page, live_server, seeded, artifacts):
    page.goto(live_server + "/reports")
    assert "/login" in page.url
    page.fill("input[name=email]", REVIEWER_EMAIL)
    page.fill("input[name=password]", REVIEWER_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(re.escape(live_server) + r"/reports$"))

    assert page.locator("h1").inner_text().startswith("Savings and quality")
    assert page.locator("svg.chart").count() == 4
    # One pair of bars (baseline, cost) per month in the cost-vs-baseline chart.
    assert page.locator("svg.chart").first.locator("rect[height]").count() >= 6
    for month in months_back(3):
        assert page.locator("table.months").get_by_text(f"{month:%Y-%m}").count() == 1

    cells = page.locator("[data-testid=attribution] td.num").all_inner_texts()
    routing, caching, batch, overhead, saving = (float(text.replace("−", "-").replace("$", "").replace(",", ""))
                                                 for text in cells)
    assert routing > 0 and caching > 0 and batch > 0 and overhead < 0
    assert round(routing + caching + batch + overhead, 2) == saving  # the shown cents add up
    assert page.locator("[data-testid=total-saving]").inner_text() == f"${saving:,.2f}"

    advice = page.locator("[data-testid=suggestions]").inner_text()
    assert "crm_cleanup always escalates: start it one tier higher (tier1 -> tier2)" in advice
    classes = page.locator("[data-testid=classes]")
    assert classes.locator("tbody tr").count() == len(TRAFFIC)
    assert classes.locator(".band.start_higher").count() >= 1

    # Everything the page loaded came from the app itself.
    hosts = page.evaluate("performance.getEntriesByType('resource').map(e => new URL(e.name).host)")
    assert set(hosts) <= {live_server.removeprefix("http://")}

    page.set_viewport_size({"width": 1366, "height": 768})  # a laptop screen
    page.screenshot(path=str(artifacts / "reports-page.png"), full_page=True)
    assert (artifacts / "reports-page.png").stat().st_size > 10_000
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1366  # nothing overflows sideways at laptop width
