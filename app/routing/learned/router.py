"""``learned`` mode: the shipped model places free text without a model call.

The steps, each named in the reason trail with its probabilities and thresholds:

1. ``learned_task_type``: the task-type head's best guess with its probability and the runner-up.
   An operator's policy may have task types the model never saw: a sure keyword match of such a type,
   or a guess that is not a task type of this policy, leaves the decision to the rules, as in
   ``rules`` mode (keywords, then ``rules.unknown_task_tier``).
2. ``premium_needed``: the premium head's probability against the threshold that
   ``router.premium_share`` gives through the calibration table shipped with the weights (or
   ``router.premium_threshold`` when the operator recalibrated). At or above it, work that would sit
   on the cheapest tier goes one tier up (a general question is ``open_question``, on tier1 in the
   default policy, so for it the premium head decides). The head's own ``unknown`` class ("could not
   tell": a greeting, a fragment) follows ``rules.unknown_task_tier``, the safe middle, as in rules mode.
3. ``learned_tier``: each tier collects the probability of the task types that land on it; the tier
   with the most wins, and the task type is the likeliest one on that tier. When the model is sure this
   is the best guess's tier; when it is unsure between types of different tiers it is the Bayes choice,
   not a blind step up. (Below ``router.learned_confidence_threshold`` hybrid mode asks the LLM router.)
4. The safety rules of rules mode apply on top: input size, high risk, sensitive content, external
   sending, ``review: always`` (read off the rules router's own decision, so the modes cannot drift).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

from app.policy.schema import Policy
from app.pricing import Usage
from app.routing.learned.model import LearnedModel, shipped_model
from app.routing.rules import UNKNOWN_TASK_TYPE, RouteDecision, RouteInput, RulesRouter

COPIED_RULES = ("external", "type_requires_review")


@dataclass(frozen=True)
class LearnedScore:
    """What the model said about one text: task-type probabilities and "premium needed"."""

    probabilities: dict[str, float]
    premium: float

    @property
    def ranked(self) -> list[tuple[str, float]]:
        return sorted(self.probabilities.items(), key=lambda item: -item[1])

    @property
    def task_type(self) -> str:
        return self.ranked[0][0]

    @property
    def probability(self) -> float:
        return self.ranked[0][1]

    @property
    def confidence(self) -> float:
        """How sure the model is of a task type: the best guess's probability, or, when the best guess
        is ``unknown`` ("could not tell": "Hello", a fragment), the likeliest real type's, which is low."""
        best, probability = self.ranked[0]
        if best != UNKNOWN_TASK_TYPE:
            return probability
        return max((p for name, p in self.probabilities.items() if name != UNKNOWN_TASK_TYPE), default=0.0)


class LearnedRouter:
    """One instance per policy; ``decide`` is pure and takes a fraction of a millisecond."""

    def __init__(self, policy: Policy, rules: RulesRouter, model: LearnedModel | None = None):
        self.policy, self.rules = policy, rules
        self.model = model if model is not None else shipped_model()
        router = policy.router
        self.confidence_threshold = router.learned_confidence_threshold
        self.types_unknown_to_model = set(policy.task_types) - set(self.model.task_type.classes)
        self.premium_threshold = (router.premium_threshold if router.premium_threshold is not None
                                  else self.model.premium_threshold(router.premium_share))
        # For each premium verdict, each class of the model -> (tier, task type as placed): fixed per policy.
        self._placement = {premium: self._placement_of(premium) for premium in (False, True)}

    def _placement_of(self, premium: bool) -> dict[str, tuple[str, str]]:
        policy = self.policy
        cheapest = policy.tier_order[0]
        lifted = policy.next_tier(cheapest) if premium else cheapest
        placement = {}
        for name in self.model.task_type.classes:
            spec = policy.task_types.get(name)
            if name == UNKNOWN_TASK_TYPE or spec is None:
                # "Could not tell" goes to the safe middle, as in rules mode.
                placement[name] = (policy.rules.unknown_task_tier, UNKNOWN_TASK_TYPE)
            else:
                placement[name] = (lifted if spec.tier == cheapest else spec.tier, name)
        return placement

    def score(self, text: str) -> LearnedScore:
        probabilities, premium = self.model.score(text)
        return LearnedScore(probabilities, premium)

    def is_sure(self, scored: LearnedScore) -> bool:
        """Hybrid mode asks the LLM router only where this is false (so also where the model could not tell)."""
        return scored.confidence >= self.confidence_threshold

    def decide(self, request: RouteInput, scored: LearnedScore | None = None) -> RouteDecision:
        if request.task_type:
            return self.rules.decide(request)  # the caller said what it is: the table decides
        policy = self.policy
        if self.types_unknown_to_model:
            detection = self.rules.detect_task_type(request.text)
            if (detection.task_type in self.types_unknown_to_model
                    and detection.confidence >= policy.rules.confidence_threshold):
                decision = self.rules.decide(request)
                decision.reasons.insert(0, {"rule": "learned_task_type", "detail": f"{detection.task_type} is a task "
                                            "type the learned model does not know; its keywords matched, the rules decide"})
                return decision
        scored = scored or self.score(request.text)
        (best, p_best), (second, p_second) = scored.ranked[:2]
        guess = f"{best} p={p_best:.2f} (runner-up {second} p={p_second:.2f})"
        if best != UNKNOWN_TASK_TYPE and best not in policy.task_types:
            decision = self.rules.decide(request)
            decision.reasons.insert(0, {"rule": "learned_task_type", "detail": f"{guess}: not a task type of this "
                                                                               "policy, the rules decide"})
            return decision

        cheapest = policy.tier_order[0]
        premium = scored.premium >= self.premium_threshold and policy.next_tier(cheapest) is not None
        task_type, tier, masses = self.place(scored, premium)
        decision, base = self._from_rules(request, task_type)
        decision.confidence = round(scored.confidence if task_type == UNKNOWN_TASK_TYPE
                                    else scored.probabilities.get(task_type, p_best), 3)
        decision.add("learned_task_type", f"{guess}: " + (f"{best} -> {policy.task_types[best].tier}" if best in
                                                          policy.task_types else f"could not tell, {policy.rules.unknown_task_tier}"))
        share = (f"premium_share {policy.router.premium_share:g}" if policy.router.premium_threshold is None
                 else "premium_threshold")
        if premium:
            decision.add("premium_needed", f"p={scored.premium:.2f} >= {self.premium_threshold:.3f} ({share}): "
                                           f"{cheapest} work goes to {policy.next_tier(cheapest)}")
        else:
            decision.add("premium_needed", f"p={scored.premium:.2f} < {self.premium_threshold:.3f} ({share}): "
                                           f"{cheapest} work stays on {cheapest}")
        listed = ", ".join(f"{name} {mass:.2f}" for name, mass in masses.items())
        decision.add("learned_tier", f"{listed}: {tier} holds the most" + (f", as {task_type}" if task_type != best else ""))
        return self._apply_safety(decision, base, tier)

    def place(self, scored: LearnedScore, premium: bool) -> tuple[str, str, dict[str, float]]:
        """The task type and tier that hold the most probability, and each tier's share."""
        policy = self.policy
        placement = self._placement[premium]
        masses = {tier: 0.0 for tier in policy.tier_order}
        likeliest: dict[str, tuple[float, str]] = {}
        for name, probability in scored.probabilities.items():
            tier, name = placement[name]
            masses[tier] += probability
            if probability > likeliest.get(tier, (-1.0, ""))[0]:
                likeliest[tier] = (probability, name)
        # Ties go to the higher tier: the cheaper mistake is paying too much, not answering badly.
        tier = max(reversed(policy.tier_order), key=lambda name: masses[name])
        return likeliest[tier][1], tier, masses

    def _from_rules(self, request: RouteInput, task_type: str) -> tuple[RouteDecision, RouteDecision]:
        """An empty learned decision with the rules' estimates for ``task_type``, and the rules' own decision."""
        base = self.rules.decide(replace(request, task_type=task_type), decided_by="learned", priced=False)
        decision = RouteDecision(**{name: getattr(base, name) for name in RouteDecision.__dataclass_fields__})
        decision.reasons, decision.needs_review, decision.review_reasons = [], False, []
        decision.task_type_source, decision.decided_by = "learned", "learned"
        return decision, base

    def _apply_safety(self, decision: RouteDecision, base: RouteDecision, tier: str) -> RouteDecision:
        """The rules' safety floors and review flags on top of the learned tier."""
        policy = self.policy
        floors = {"input_size": policy.rules.input_size_min_tier, "high_risk": policy.rules.high_risk_min_tier,
                  "sensitive_content": policy.rules.sensitive.min_tier}
        for reason in base.reasons:
            rule = reason["rule"]
            if rule in floors:
                raised = policy.at_least(tier, floors[rule])
                detail = re.sub(r", tier\w+ -> tier\w+", "", reason["detail"])
                decision.add(rule, detail + (f", {tier} -> {raised}" if raised != tier else ""))
                tier = raised
            elif rule in COPIED_RULES:
                decision.add(rule, reason["detail"])
        decision.needs_review, decision.review_reasons = base.needs_review, list(base.review_reasons)
        decision.tier, decision.model = tier, policy.model_for(tier)
        usage = Usage(input_tokens=decision.input_tokens, output_tokens=decision.expected_output_tokens)
        decision.estimated_cost_usd = policy.prices.cost(decision.model, usage)
        decision.baseline_cost_usd = policy.prices.cost(policy.baseline_model, usage)
        return decision
