"""The reports page's shadow section in a real headless Chromium: per-class agreement with its interval,
the human sample beside it, the thresholds, the spend line and the listed disagreement."""
from __future__ import annotations

import json
import re
from decimal import Decimal

from app.store import Request, ShadowComparison, utcnow
from tests.review_seed import REVIEWER_EMAIL, REVIEWER_PASSWORD, add_reviewer

SONNET, HAIKU = "claude-sonnet-4-6", "claude-haiku-4-5"


def seed_comparisons(store) -> None:
    """Ten classification comparisons (one disagreement) and three summaries, as the shadow job writes them."""
    month = utcnow().strftime("%Y-%m")
    with store.session() as session:
        for task_type, verdicts in (("classification", ["agree"] * 9 + ["disagree"]),
                                    ("faq_answer", ["agree", "agree", "not_judged"])):
            for index, verdict in enumerate(verdicts):
                request = Request(kind="fallback", task_type=task_type, tier="tier1", model=HAIKU, status="done",
                                  payload={"text": f"{task_type} input {index}"})
                session.add(request)
                session.flush()
                label = "B2C" if verdict == "disagree" else "B2B"
                session.add(ShadowComparison(
                    request_id=request.id, month=month, task_type=task_type, status=verdict,
                    comparator="label" if task_type == "classification" else "judge", answer_tier="tier1",
                    answer_model=HAIKU, baseline_model=SONNET, input_text=f"{task_type} input {index}",
                    answer_text=json.dumps({"label": "B2B"}), baseline_text=json.dumps({"label": label}),
                    reason="label 'B2B' vs baseline 'B2C'" if verdict == "disagree" else "both answered 'B2B'",
                    batch=True, shadow_cost_usd=Decimal("0.00165"),
                    judge_cost_usd=Decimal("0.0012") if task_type == "faq_answer" else Decimal(0)))


def test_reports_page_shows_agreement_with_its_interval_per_class(page, live_server, app, artifacts):
    store = app.extensions["store"]
    add_reviewer(store)
    seed_comparisons(store)
    page.goto(live_server + "/reports")
    page.fill("input[name=email]", REVIEWER_EMAIL)
    page.fill("input[name=password]", REVIEWER_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(re.escape(live_server) + r"/reports$"))

    section = page.locator("[data-testid=shadow]")
    assert "Quality against the baseline (claude-sonnet-4-6)" in section.locator("h2").inner_text()
    row = section.locator("tr[data-class=classification]")
    assert row.locator("[data-testid=agreement]").inner_text() == "90.0%"
    assert row.locator("[data-testid=interval]").inner_text() == "59.6–98.2%"
    assert row.locator("td").nth(2).inner_text() == "10"
    # 1 of 10 disagreeing is 10%, the top of the adjust band; no human sample is marked yet.
    assert row.locator("[data-testid=recommendation]").inner_text() == "adjust the prompt and add examples"
    faq = section.locator("tr[data-class=faq_answer]")
    assert faq.locator("[data-testid=agreement]").inner_text() == "100.0%"
    assert faq.locator("td").nth(5).inner_text() == "1"  # the not-judged verdict, outside the rate
    text = section.inner_text()
    assert "keep under 5% wrong" in text and "over 10%" in text
    # 13 baseline calls at $0.00165 and three judge calls at $0.0012, never inside the saving.
    assert section.locator("[data-testid=shadow-spend]").inner_text() == (
        "Shadow spend, not part of the saving: $0.025050 (baseline calls $0.021450, judge $0.003600, "
        "13 comparisons)")

    section.locator("[data-testid=disagreements-classification] summary").click()
    disagreement = section.locator("[data-testid=disagreements-classification] tbody tr")
    assert disagreement.count() == 1
    assert "classification input 9" in disagreement.inner_text() and "B2C" in disagreement.inner_text()
    page.screenshot(path=str(artifacts / "reports-shadow.png"), full_page=True)
