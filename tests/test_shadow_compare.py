"""Comparators, the judge's verdict and the agreement interval: the rules a person checks by hand."""
from __future__ import annotations

import json

import pytest

from app.errors import ProviderError
from app.policy import load_policy
from app.comparators.base import COMPARATORS, Case, build, choose
from app.comparators.judge import judge_prompt, read_verdict
from app.shadow.report import ClassShadow, wilson


def case(answer, baseline, ask=None, ignore=()):
    return Case(task_type="t", input_text="input", answer=answer, baseline_text=baseline, ask=ask,
                ignore_fields=list(ignore))


@pytest.mark.parametrize("answer, baseline, status", [
    ({"label": "B2B", "confidence": 0.9}, '{"label": "b2b ", "confidence": 0.4}', "agree"),
    ({"label": "B2B"}, '```json\n{"label": "B2C"}\n```', "disagree"),
    ('{"label": "Unsure"}', "Unsure", "agree"),  # a bare label from the baseline still counts
    ({"label": "B2B"}, "I cannot decide between the labels.\nSorry.", "not_judged"),
    ({"confidence": 0.9}, '{"label": "B2B"}', "not_judged"),
])
def test_label_match(answer, baseline, status):
    assert build("label").compare(case(answer, baseline)).status == status


@pytest.mark.parametrize("answer, baseline, status, detail", [
    ({"company": "Acme GmbH", "email": "jane@acme.de", "employees": 40},
     '{"company": " ACME  gmbh.", "email": "JANE@acme.de", "employees": "40"}', "agree", "3 fields equal"),
    ({"company": "Acme GmbH", "phone": None}, '{"company": "Acme GmbH", "phone": ""}', "agree", "2 fields equal"),
    ({"company": "Acme GmbH", "country": "DE"}, '{"company": "Acme GmbH", "country": "AT"}', "disagree",
     'country: "DE" vs baseline "AT"'),
    ({"company": "Acme"}, '{"company": "Acme", "likely_duplicate": true}', "disagree", "likely_duplicate"),
    ({"company": "Acme", "reason": "x"}, '{"company": "Acme", "reason": "y", "confidence": 1}', "agree", "1 fields"),
    ({"company": "Acme"}, "[1, 2]", "not_judged", "not a JSON object"),
    ({"company": "Acme"}, "{broken", "not_judged", "not valid JSON"),
])
def test_field_match_after_normalisation(answer, baseline, status, detail):
    verdict = build("fields").compare(case(answer, baseline))
    assert verdict.status == status and detail in verdict.reason


def test_ignored_fields_are_not_compared():
    verdict = build("fields").compare(case({"a": 1, "seen_at": "today"}, '{"a": 1, "seen_at": "now"}',
                                           ignore=["seen_at"]))
    assert verdict.status == "agree"


@pytest.mark.parametrize("text, status", [
    ('{"same_or_better": true, "reason": "same facts"}', "agree"),
    ('```json\n{"same_or_better": false, "reason": "misses the date"}\n```', "disagree"),
    ('{"same_or_better": "yes", "reason": "fine"}', "not_judged"),
    ('{"reason": "fine"}', "not_judged"),
    ("They are about the same.", "not_judged"),
    ("[true]", "not_judged"),
])
def test_judge_verdict_must_be_the_agreed_json(text, status):
    assert read_verdict(text).status == status


def test_the_judge_reads_the_rubric_both_answers_and_a_failed_call_is_not_judged():
    asked = []

    def ask(system, user):
        asked.append((system, user))
        return json.dumps({"same_or_better": True, "reason": "equivalent"})

    verdict = build("judge", rubric="Judge tone only.").compare(case("Hi there", "Hello", ask=ask))
    assert verdict.status == "agree" and verdict.reason == "equivalent"
    system, user = asked[0]
    assert system.startswith("Judge tone only.") and "same_or_better" in system
    assert "Answer A (candidate):\n<<<\nHi there" in user and "Answer B (reference):\n<<<\nHello" in user

    def failing(system, user):
        raise ProviderError("HTTP 529 overloaded")

    assert build("judge").compare(case("a", "b", ask=failing)).status == "not_judged"
    assert build("judge").compare(case("a", "b")).status == "not_judged"
    assert judge_prompt(case("a", "b"))[0].startswith("You compare two answers")


def test_each_default_task_type_gets_the_comparator_its_output_calls_for():
    policy = load_policy()
    chosen = {name: choose(task) for name, task in policy.task_types.items()}
    assert chosen["classification"] == chosen["list_classification"] == "label"
    assert chosen["extraction"] == chosen["crm_cleanup"] == "fields"
    assert chosen["translation"] == chosen["summary"] == "judge"
    assert set(chosen.values()) <= set(COMPARATORS)


@pytest.mark.parametrize("agreed, compared, low, high", [
    (9, 10, 59.6, 98.2),
    (10, 10, 72.2, 100.0),
    (0, 4, 0.0, 49.0),
    (388, 400, 94.8, 98.3),
])
def test_wilson_interval(agreed, compared, low, high):
    bounds = wilson(agreed, compared)
    assert (round(100 * bounds[0], 1), round(100 * bounds[1], 1)) == (low, high)


def test_no_comparisons_no_interval():
    assert wilson(0, 0) is None


@pytest.mark.parametrize("agreed, disagreed, audited, wrong, expected", [
    (20, 0, 0, 0, "keep"),             # no disagreement, no human sample yet
    (17, 3, 0, 0, "move_up"),          # 15% disagreement
    (19, 1, 0, 0, "adjust_prompt"),    # 5% disagreement: the adjust band starts at 5%
    (19, 1, 20, 3, "move_up"),         # shadow says adjust, the human sample 15% wrong: the stricter wins
    (20, 0, 20, 1, "adjust_prompt"),   # shadow says keep, the human sample 5% wrong
])
def test_the_recommendation_is_the_stricter_of_the_two_signals(agreed, disagreed, audited, wrong, expected):
    entry = ClassShadow("classification", "tier1", "label", True, 0.05, None, agreed=agreed, disagreed=disagreed,
                        audited=audited, audit_wrong=wrong)
    assert entry.recommendation == expected


def test_too_few_comparisons_do_not_move_a_class():
    entry = ClassShadow("classification", "tier1", "label", True, 0.05, None, agreed=3, disagreed=2)
    assert entry.shadow_recommendation == "no_data" and entry.recommendation == "no_data"
