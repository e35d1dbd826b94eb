"""Each upgrade rule, and the order they apply in (docs/architecture.md, "Routing")."""
from __future__ import annotations

import pytest

from app.policy import default_policy_text, load_policy, parse_policy
from app.routing import RouteInput, RulesRouter


@pytest.fixture(scope="module")
def router():
    return RulesRouter(load_policy())


def rules_fired(decision):
    return [reason["rule"] for reason in decision.reasons]


def test_task_type_table(router):
    for task_type, tier in [("classification", "tier1"), ("extraction", "tier1"), ("summary", "tier2"),
                            ("support_reply", "tier2"), ("strategy", "tier3"), ("code_review", "tier3")]:
        assert router.decide(RouteInput(text="x", task_type=task_type)).tier == tier


def test_input_over_8000_tokens_is_at_least_tier2(router):
    decision = router.decide(RouteInput(text="word " * 10, task_type="classification", input_tokens=8001))
    assert decision.tier == "tier2"
    assert rules_fired(decision) == ["task_type", "input_size"]
    at_limit = router.decide(RouteInput(text="x", task_type="classification", input_tokens=8000))
    assert at_limit.tier == "tier1" and rules_fired(at_limit) == ["task_type"]


def test_input_size_never_lowers_a_tier3_task(router):
    decision = router.decide(RouteInput(text="x", task_type="strategy", input_tokens=50_000))
    assert decision.tier == "tier3" and "input_size" in rules_fired(decision)


def test_high_risk_is_tier2_and_review(router):
    decision = router.decide(RouteInput(text="tidy this", task_type="format_rewrite", risk="high"))
    assert decision.tier == "tier2" and decision.needs_review
    assert rules_fired(decision) == ["task_type", "high_risk"]
    assert decision.review_reasons == ["high_risk"]


def test_medium_risk_changes_nothing(router):
    decision = router.decide(RouteInput(text="tidy this", task_type="format_rewrite", risk="medium"))
    assert decision.tier == "tier1" and not decision.needs_review


@pytest.mark.parametrize("text, category", [
    ("Customer asks for a refund on order 55", "money"),
    ("Please check this wire of $1,250.00", "money"),
    ("Our lawyer says the contract clause is void", "legal"),
    ("What dosage of this medication is safe?", "medical"),
    ("I think my password was phished, account hacked", "security"),
    ("key sk_live12345678abcdef leaked", "security"),
])
def test_sensitive_content_is_tier2_and_review(router, text, category):
    decision = router.decide(RouteInput(text=text, task_type="classification"))
    assert decision.tier == "tier2" and decision.needs_review
    sensitive = [reason for reason in decision.reasons if reason["rule"] == "sensitive_content"]
    assert sensitive and sensitive[0]["detail"].startswith(category) or f"{category}:" in sensitive[0]["detail"]


def test_keywords_match_whole_words_only(router):
    decision = router.decide(RouteInput(text="Sort these rows: taxonomy, suet, courtyard", task_type="classification"))
    assert "sensitive_content" not in rules_fired(decision)


def test_external_means_review_but_not_a_higher_tier(router):
    decision = router.decide(RouteInput(text="Thanks for your order", task_type="format_rewrite", external=True))
    assert decision.tier == "tier1" and decision.needs_review
    assert rules_fired(decision) == ["task_type", "external"]


def test_low_confidence_moves_one_tier_up(router):
    # "translate" (translation) and "summarize" (summary) tie: confidence 0.5.
    decision = router.decide(RouteInput(text="translate and summarize"))
    assert decision.confidence < 0.75
    assert rules_fired(decision)[-1] == "low_confidence"


def test_unknown_type_goes_to_the_safe_middle_without_a_confidence_bump(router):
    decision = router.decide(RouteInput(text="hello there"))
    assert (decision.task_type, decision.tier) == ("unknown", "tier2")
    assert rules_fired(decision) == ["unknown_task_type"]
    given_unknown = router.decide(RouteInput(text="x", task_type="poetry"))
    assert given_unknown.tier == "tier2" and "not in the policy" in given_unknown.reasons[0]["detail"]


def test_rules_apply_in_product_order(router):
    decision = router.decide(RouteInput(text="refund the invoice", task_type="support_reply", risk="high",
                                        external=True, input_tokens=9000))
    assert rules_fired(decision) == ["task_type", "input_size", "high_risk", "sensitive_content", "external",
                                     "type_requires_review"]
    assert decision.review_reasons == ["high_risk", "sensitive_content", "external", "task_type_review"]
    assert decision.tier == "tier2"


def test_low_confidence_on_top_tier_stays(router):
    policy_text = default_policy_text().replace("confidence_threshold: 0.75", "confidence_threshold: 0.99")
    strict = RulesRouter(parse_policy(policy_text))
    decision = strict.decide(RouteInput(text="our business plan strategy and the roadmap, trade-offs; code review"))
    assert decision.tier == "tier3"
    assert rules_fired(decision)[-1] == "low_confidence"
    assert "already on the top tier" in decision.reasons[-1]["detail"]


def test_per_type_override_of_token_limit():
    text = default_policy_text().replace(
        "  summary:\n    tier: tier2\n",
        "  summary:\n    tier: tier2\n    overrides: {max_input_tokens: 100000}\n")
    policy = parse_policy(text)
    router = RulesRouter(policy)
    decision = router.decide(RouteInput(text="x", task_type="summary", input_tokens=50_000))
    assert "input_size" not in rules_fired(decision)


def test_per_type_override_can_skip_sensitive_check():
    text = default_policy_text().replace(
        "  extraction:\n    tier: tier1\n",
        "  extraction:\n    tier: tier1\n    overrides: {sensitive: false}\n")
    router = RulesRouter(parse_policy(text))
    decision = router.decide(RouteInput(text="extract the invoice number", task_type="extraction"))
    assert decision.tier == "tier1" and not decision.needs_review
