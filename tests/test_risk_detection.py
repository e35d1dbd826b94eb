"""Money, legal, medical and security content: caught by the matter, not by an amount.

``tests/data/risk_labelled.jsonl`` holds benign texts with prices and sums (product copy, menus, word
problems) and real sensitive requests (a refund dispute, an invoice, a contract clause, a leaked key);
the default policy's keyword lists were written against it. ``bench/data/gsm8k_money_problems.jsonl``
(300 GSM8K training problems with a dollar amount, never tuned on) guards the false-alarm rate.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.policy import load_policy
from app.routing import RouteInput, RulesRouter

ROOT = Path(__file__).resolve().parents[1]
LABELLED = [json.loads(line) for line in (ROOT / "tests" / "data" / "risk_labelled.jsonl").read_text().splitlines()]
WORD_PROBLEMS = [json.loads(line)["text"] for line in
                 (ROOT / "bench" / "data" / "gsm8k_money_problems.jsonl").read_text().splitlines()]
# A product text for a "password notebook" is flagged: the word alone is kept, as a pasted password matters more.
KNOWN_FALSE_ALARMS = {"Write a product description for a password notebook with a floral cover, $12"}
WORD_PROBLEM_MAX_FALSE_ALARM_RATE = 0.02


@pytest.fixture(scope="module")
def router():
    return RulesRouter(load_policy())


@pytest.mark.parametrize("row", [row for row in LABELLED if row["sensitive"] is None
                                 and row["text"] not in KNOWN_FALSE_ALARMS], ids=lambda row: row["text"][:40])
def test_amounts_in_benign_text_stay_on_their_tier_without_review(router, row):
    decision = router.decide(RouteInput(text=row["text"], task_type="format_rewrite"))
    assert (decision.tier, decision.needs_review) == ("tier1", False), decision.reasons


@pytest.mark.parametrize("row", [row for row in LABELLED if row["sensitive"]], ids=lambda row: row["text"][:40])
def test_sensitive_requests_go_up_and_to_review(router, row):
    decision = router.decide(RouteInput(text=row["text"], task_type="format_rewrite"))
    assert decision.tier == "tier2" and "sensitive_content" in decision.review_reasons
    detail = next(reason["detail"] for reason in decision.reasons if reason["rule"] == "sensitive_content")
    assert f"{row['sensitive']}:" in detail


def test_arithmetic_word_problems_with_dollars_rarely_go_to_review(router):
    flagged = [text for text in WORD_PROBLEMS if router.sensitive_categories(text)]
    assert len(flagged) / len(WORD_PROBLEMS) <= WORD_PROBLEM_MAX_FALSE_ALARM_RATE, flagged
