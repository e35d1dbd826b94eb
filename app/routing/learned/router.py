"""``learned`` mode: the shipped model places free text without a model call.

The steps, each named in the reason trail with its probabilities and thresholds:

1. ``learned_task_type``: the task-type head's best guess. A task type of the policy at or above
   ``router.learned_confidence_threshold`` is taken with its table tier; below it the guess is kept but
   ``low_confidence`` moves it one tier up (the product's rule for an unsure router).
2. The head's own ``unknown`` class (none of the task types: a general question, a maths problem)
   starts on the cheapest tier, and the premium head decides whether it goes up.
3. A guess that is not a task type of this policy (an operator's policy with other types) is not
   used: the rules decide, as in ``rules`` mode (keywords, then ``rules.unknown_task_tier``).
4. ``premium_needed``: on the cheapest tier, a "premium needed" probability at or above the threshold
   moves one tier up. The threshold comes from ``router.premium_share`` through the calibration table
   shipped with the weights (or ``router.premium_threshold`` when the operator set one).
5. The safety rules of rules mode apply on top: input size, high risk, sensitive content, external
   sending, ``review: always`` (read off the rules router's own decision, so the modes cannot drift).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

from app.policy.schema import Policy
from app.pricing import Usage
from app.routing.learned.model import LearnedModel, shipped_model
from app.routing.rules import UNKNOWN_TASK_TYPE, RouteDecision, RouteInput, RulesRouter

SAFETY_RULES = ("input_size", "high_risk", "sensitive_content")
COPIED_RULES = ("external", "type_requires_review")


@dataclass(frozen=True)
class LearnedScore:
    """What the model said about one text: best task type, its probability, premium needed."""

    task_type: str
    probability: float
    runner_up: str
    runner_up_probability: float
    premium: float


class LearnedRouter:
    """One instance per policy; ``decide`` is pure and takes a fraction of a millisecond."""

    def __init__(self, policy: Policy, rules: RulesRouter, model: LearnedModel | None = None):
        self.policy, self.rules = policy, rules
        self.model = model if model is not None else shipped_model()
        router = policy.router
        self.confidence_threshold = router.learned_confidence_threshold
        self.premium_threshold = (router.premium_threshold if router.premium_threshold is not None
                                  else self.model.premium_threshold(router.premium_share))

    def score(self, text: str) -> LearnedScore:
        probabilities, premium = self.model.score(text)
        ranked = sorted(probabilities.items(), key=lambda item: -item[1])
        (best, p_best), (second, p_second) = ranked[0], ranked[1] if len(ranked) > 1 else ("", 0.0)
        return LearnedScore(best, p_best, second, p_second, premium)

    def is_sure(self, scored: LearnedScore) -> bool:
        """Hybrid mode asks the LLM router only where this is false."""
        return scored.probability >= self.confidence_threshold

    def decide(self, request: RouteInput, scored: LearnedScore | None = None) -> RouteDecision:
        if request.task_type:
            return self.rules.decide(request)  # the caller said what it is: the table decides
        scored = scored or self.score(request.text)
        policy = self.policy
        guess = (f"{scored.task_type} p={scored.probability:.2f} (runner-up {scored.runner_up} "
                 f"p={scored.runner_up_probability:.2f}; sure at >= {self.confidence_threshold:g})")
        if scored.task_type != UNKNOWN_TASK_TYPE and scored.task_type not in policy.task_types:
            decision = self.rules.decide(request)
            decision.reasons.insert(0, {"rule": "learned_task_type", "detail": f"{guess}: not a task type of this "
                                                                               "policy, the rules decide"})
            return decision

        task_type = scored.task_type
        base = self.rules.decide(replace(request, task_type=task_type), decided_by="learned")
        decision = RouteDecision(**{name: getattr(base, name) for name in RouteDecision.__dataclass_fields__})
        decision.reasons, decision.needs_review, decision.review_reasons = [], False, []
        decision.task_type_source, decision.decided_by, decision.confidence = "learned", "learned", round(scored.probability, 3)
        spec = policy.task_types.get(task_type)
        cheapest = policy.tier_order[0]

        if spec is None:
            tier = cheapest
            decision.add("learned_task_type", f"{guess}: none of the task types, starting on {tier}")
        else:
            tier = spec.tier
            decision.add("learned_task_type", f"{guess}: {task_type} -> {tier}")

        share = (f"premium_share {policy.router.premium_share:g}" if policy.router.premium_threshold is None
                 else "premium_threshold")
        if tier == cheapest:
            raised = policy.next_tier(tier)
            if scored.premium >= self.premium_threshold and raised:
                decision.add("premium_needed", f"premium needed p={scored.premium:.2f} >= {self.premium_threshold:.3f} "
                                               f"({share}): {tier} -> {raised}")
                tier = raised
            else:
                decision.add("premium_needed", f"premium needed p={scored.premium:.2f} < {self.premium_threshold:.3f} "
                                               f"({share}): stays on {tier}")

        for reason in base.reasons:
            rule = reason["rule"]
            if rule in SAFETY_RULES:
                floor = {"input_size": policy.rules.input_size_min_tier, "high_risk": policy.rules.high_risk_min_tier,
                         "sensitive_content": policy.rules.sensitive.min_tier}[rule]
                raised = policy.at_least(tier, floor)
                detail = re.sub(r", tier\w+ -> tier\w+", "", reason["detail"])
                decision.add(rule, detail + (f", {tier} -> {raised}" if raised != tier else ""))
                tier = raised
            elif rule in COPIED_RULES:
                decision.add(rule, reason["detail"])
        decision.needs_review, decision.review_reasons = base.needs_review, list(base.review_reasons)

        if spec is not None and not self.is_sure(scored):
            raised = policy.next_tier(tier)
            detail = f"learned p={scored.probability:.2f} < {self.confidence_threshold:g}: "
            decision.add("low_confidence", detail + (f"one tier up, {tier} -> {raised}" if raised else "already on the top tier"))
            tier = raised or tier

        decision.tier, decision.model = tier, policy.model_for(tier)
        usage = Usage(input_tokens=decision.input_tokens, output_tokens=decision.expected_output_tokens)
        decision.estimated_cost_usd = policy.prices.cost(decision.model, usage)
        decision.baseline_cost_usd = policy.prices.cost(policy.baseline_model, usage)
        return decision
