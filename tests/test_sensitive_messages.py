"""Sensitive content on the 334-message test file: recall >= 0.9 with false alarms <= 10%.

``tests/data/sensitive_messages.jsonl`` was written (and committed) before the lexicons and the
classifier were tuned: realistic SME messages in English and German, half sensitive (refund and
chargeback disputes, legal threats, medical and drug questions, account compromise, ransomware,
pasted credentials), half harmless look-alikes (prices, order numbers, a password manager app, a
colleague named Sue, a tennis court). The classifier never trains on it (training/sensitive_examples.py).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.policy import load_policy
from app.routing import RouteInput, RulesRouter
from app.routing.learned import LearnedRouter, read_weights
from app.routing.learned.model import LearnedModel
from app.routing.sensitive import SensitiveDetector

ROWS = [json.loads(line) for line in
        (Path(__file__).parent / "data" / "sensitive_messages.jsonl").read_text(encoding="utf-8").splitlines()]
MIN_RECALL, MAX_FALSE_ALARMS = 0.9, 0.10


@pytest.fixture(scope="module")
def router():
    return RulesRouter(load_policy())


def rates(router, rows):
    sensitive = [row for row in rows if row["sensitive"]]
    harmless = [row for row in rows if not row["sensitive"]]
    caught = [row for row in sensitive if router.sensitive_categories(row["text"])]
    alarms = [row for row in harmless if router.sensitive_categories(row["text"])]
    return len(caught) / len(sensitive), len(alarms) / len(harmless), caught, alarms


def test_the_file_is_big_enough_and_half_sensitive():
    assert len(ROWS) >= 300
    sensitive = sum(bool(row["sensitive"]) for row in ROWS)
    assert abs(sensitive / len(ROWS) - 0.5) < 0.05
    assert {row["sensitive"] for row in ROWS if row["sensitive"]} == {"money", "legal", "medical", "security"}
    assert sum(row["lang"] == "de" for row in ROWS) >= 60


def test_recall_and_false_alarms_on_the_test_file(router):
    recall, false_alarms, _, alarms = rates(router, ROWS)
    print(f"\nsensitive recall {recall:.3f}, false alarms {false_alarms:.3f} on {len(ROWS)} messages")
    for row in alarms:
        print("  false alarm:", row["text"][:80], router.sensitive_categories(row["text"]))
    assert recall >= MIN_RECALL and false_alarms <= MAX_FALSE_ALARMS


@pytest.mark.parametrize("category", ["money", "legal", "medical", "security"])
def test_every_category_is_caught_in_both_languages(router, category):
    for lang in ("en", "de"):
        rows = [row for row in ROWS if row["sensitive"] == category and row["lang"] == lang]
        recall = sum(bool(router.sensitive_categories(row["text"])) for row in rows) / len(rows)
        assert recall >= 0.8, (category, lang, recall)


def test_free_text_that_is_sensitive_goes_up_and_to_review_in_learned_mode(router):
    policy = load_policy()
    learned = LearnedRouter(policy, router)
    for text in ["Can I give my 4-year-old paracetamol and ibuprofen on the same day?",
                 "Alle Dateien auf dem NAS enden jetzt auf .locked und da liegt eine Lösegeldforderung",
                 "I cancelled in March and you still took the money in April, I want it back"]:
        decision = learned.decide(RouteInput(text=text))
        assert decision.tier != "tier1" and "sensitive_content" in decision.review_reasons, decision.reasons


def test_look_alikes_stay_quiet(router):
    for text in ["Write a product description for our password manager app, 3.99 a month",
                 "Sue from sales is leaving on Friday, write a farewell card",
                 "Book the tennis court for Thursday at 6",
                 "Schreib einen Werbetext für unser Tagesgericht, Schnitzel für 12,90 €"]:
        assert router.sensitive_categories(text) == {}, text


def test_the_classifier_adds_its_evidence_and_a_weight_file_without_it_still_detects():
    policy = load_policy()
    shipped = read_weights()
    assert shipped.sensitive is not None and 0 < shipped.sensitive_threshold < 1
    texts = [row["text"] for row in ROWS if row["sensitive"]]
    with_head = SensitiveDetector(policy, shipped)
    assert any("classifier p=" in hit for text in texts for hits in with_head.categories(text).values() for hit in hits)
    import gzip
    from app.routing.learned.model import WEIGHTS_FILE
    document = json.loads(gzip.decompress(WEIGHTS_FILE.read_bytes()))
    del document["heads"]["sensitive"]
    lexicons_only = SensitiveDetector(policy, LearnedModel(document))
    assert lexicons_only.categories("Our files were encrypted and there is a ransom note") != {}
    assert all("classifier" not in hit for hits in lexicons_only.categories(texts[0]).values() for hit in hits)


def test_everyday_business_text_is_rarely_flagged(router):
    for text in ["Where should we expand next year?", "Should we open a second shop or sell online?",
                 "What should we do about the slow website?"]:
        assert router.sensitive_categories(text) == {}, text
    rows = [json.loads(line) for line in
            (Path(__file__).resolve().parents[1] / "bench" / "data" / "user_oriented_labelled.jsonl").read_text().splitlines()]
    flagged = [row["text"][:60] for row in rows if router.sensitive_categories(row["text"])]
    assert len(flagged) / len(rows) <= 0.06, flagged
