"""Task types on everyday work: the general types of the default policy and the learned head on outside text.

``bench/data/user_oriented_labelled.jsonl`` holds 249 human-written instructions motivated by everyday
apps (self-instruct's user-oriented set, Apache-2.0), labelled by hand onto the policy's task types. It
is trained on since issue 21's third round (it had been looked at while tuning); the outside check is
now a sample of databricks-dolly-15k kept outside the repository (share-alike, evaluation only:
``bench/route_quality.py --outside FILE``), so these tests guard the placement, not generalisation.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.policy import load_policy
from app.routing import RouteInput, RulesRouter
from app.routing.learned import LearnedRouter

OUTSIDE = [json.loads(line) for line in
           (Path(__file__).resolve().parents[1] / "bench" / "data" / "user_oriented_labelled.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def routers():
    policy = load_policy()
    rules = RulesRouter(policy)
    return policy, rules, LearnedRouter(policy, rules)


def test_the_default_policy_has_the_general_task_types_on_their_tiers(routers):
    policy, _, learned = routers
    tiers = {name: policy.task_types[name].tier for name in ("open_question", "writing", "brainstorming", "code", "maths")}
    assert tiers == {"open_question": "tier1", "writing": "tier2", "brainstorming": "tier2", "code": "tier2",
                     "maths": "tier2"}
    assert learned.types_unknown_to_model == set(), "the shipped head knows every default task type"


def test_could_not_tell_goes_to_the_safe_middle(routers):
    policy, _, learned = routers
    decision = learned.decide(RouteInput(text="hello, can you help me with something"))
    assert (decision.task_type, decision.tier) == ("unknown", policy.rules.unknown_task_tier), decision.reasons


@pytest.mark.parametrize("text", ["Hello", "hi there", "Thanks!", "ok"])
def test_could_not_tell_is_said_with_low_confidence(routers, text):
    """"Could not tell" is no sure placement: its confidence is the likeliest real type's, and hybrid
    mode counts the learned router as unsure there."""
    policy, _, learned = routers
    decision = learned.decide(RouteInput(text=text))
    scored = learned.score(text)
    assert (decision.task_type, decision.tier) == ("unknown", policy.rules.unknown_task_tier)
    assert decision.confidence < 0.2, decision.reasons
    assert not learned.is_sure(scored)
    best_real = max(p for name, p in scored.probabilities.items() if name != "unknown")
    assert decision.confidence == round(best_real, 3)


def test_a_placed_type_keeps_its_own_probability_as_confidence(routers):
    learned = routers[2]
    text = "Classify this lead as B2B or B2C: Nordwind Logistik GmbH, 40 trucks"
    decision, scored = learned.decide(RouteInput(text=text)), learned.score(text)
    assert decision.task_type == scored.task_type == "classification"
    assert decision.confidence == round(scored.probability, 3) and learned.is_sure(scored)


@pytest.mark.parametrize("text, task_type", [
    ("Write a poem for my grandmother's 80th birthday", "writing"),
    ("Give me 10 ideas for a summer promotion in our ice cream shop", "brainstorming"),
    ("Write a Python function that checks whether a string is a palindrome", "code"),
    ("A tank holds 240 litres and drains at 8 litres a minute. How long until it is empty?", "maths"),
    ("Why do cats purr?", "open_question"),
])
def test_everyday_requests_get_their_general_type(routers, text, task_type):
    assert routers[2].decide(RouteInput(text=text)).task_type == task_type


def test_everyday_instructions_are_placed_on_the_right_tier_and_rarely_unknown(routers):
    _, rules, learned = routers
    right_tier = right_type = unknown = 0
    for row in OUTSIDE:
        decision = learned.decide(RouteInput(text=row["text"]))
        truth = rules.decide(RouteInput(text=row["text"], task_type=row["task_type"]))
        right_tier += decision.tier == truth.tier
        right_type += decision.task_type == row["task_type"]
        unknown += decision.task_type == "unknown"
    print(f"\neveryday set: task type {right_type / len(OUTSIDE):.3f}, tier {right_tier / len(OUTSIDE):.3f}, "
          f"unknown {unknown / len(OUTSIDE):.3f} (n={len(OUTSIDE)})")
    assert unknown / len(OUTSIDE) < 0.2
    assert right_tier / len(OUTSIDE) >= 0.65


def test_the_service_scores_without_the_training_libraries():
    import subprocess
    import sys

    code = ("import sys; from app.policy import load_policy; from app.routing import RouteInput, RulesRouter; "
            "from app.routing.learned import LearnedRouter; p = load_policy(); "
            "d = LearnedRouter(p, RulesRouter(p)).decide(RouteInput(text='Ich will mein Geld zurück')); "
            "assert d.needs_review; print(sorted(m for m in ('numpy', 'scipy', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
