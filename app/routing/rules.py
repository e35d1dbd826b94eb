"""Rules-mode routing: the policy table plus the upgrade rules, no model call.

The order of the upgrade rules is the product's (docs/architecture.md, "Routing"): the task type's tier (or the
safe middle for an unknown type), input size, high risk, sensitive content, external sending, low
confidence. Every rule that fires adds ``{rule, detail}`` to the reason trail, so an operator can read
in the log why a request went where it went.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from app.policy.schema import Policy
from app.pricing import Usage
from app.providers.tokens import estimate_message_tokens, estimate_tokens
from app.routing.matching import PhraseMatcher, tokens
from app.routing.sensitive import SensitiveDetector

UNKNOWN_TASK_TYPE = "unknown"
MIN_EXPECTED_OUTPUT_TOKENS = 16
PATTERN_WEIGHT = 2
# One keyword hit with no competing type scores exactly the default 0.75 threshold; two clear hits, 1.0.
HITS_FOR_FULL_CONFIDENCE = 2


@dataclass(frozen=True)
class RouteInput:
    text: str
    task_type: str | None = None
    risk: str = "low"
    external: bool = False
    input_tokens: int | None = None


@dataclass
class RouteDecision:
    task_type: str
    task_type_source: str
    tier: str
    model: str
    confidence: float
    decided_by: str
    input_tokens: int
    expected_output_tokens: int
    estimated_cost_usd: object
    baseline_cost_usd: object
    reasons: list[dict] = field(default_factory=list)
    needs_review: bool = False
    review_reasons: list[str] = field(default_factory=list)
    # Set when the LLM router placed the request: its call is a ledger row of its own.
    router_request_id: str | None = None
    router_cost_usd: Decimal = Decimal(0)

    def add(self, rule: str, detail: str) -> None:
        self.reasons.append({"rule": rule, "detail": detail})


@dataclass(frozen=True)
class Detection:
    task_type: str
    confidence: float
    detail: str


class RulesRouter:
    """Compiled once per policy; ``decide`` is pure and takes well under a millisecond."""

    def __init__(self, policy: Policy):
        self.policy = policy
        self._detectors = PhraseMatcher({name: task.detect for name, task in policy.task_types.items()})
        self._sensitive = SensitiveDetector(policy)

    # -- task type inference ---------------------------------------------------------------------

    def detect_task_type(self, text: str, words: list[str] | None = None) -> Detection:
        """Score every task type by keyword and pattern hits; the margin over the runner-up is the confidence."""
        scores: list[tuple[int, str, list[str]]] = []
        for name, (hits, pattern_hits) in self._detectors.match(text, words).items():
            score = len(hits) + PATTERN_WEIGHT * len(pattern_hits)
            scores.append((score, name, hits + [f"/{hit}/" for hit in pattern_hits]))
        if not scores:
            return Detection(UNKNOWN_TASK_TYPE, 0.0, "no task type keyword or pattern matched")
        scores.sort(key=lambda item: -item[0])
        best, name, evidence = scores[0]
        runner_up = scores[1][0] if len(scores) > 1 else 0
        margin = (best - runner_up) / best
        strength = min(1.0, best / HITS_FOR_FULL_CONFIDENCE)
        confidence = round(0.5 + 0.5 * margin * strength, 3)
        detail = f"matched {', '.join(evidence[:5])}"
        if runner_up:
            detail += f"; runner-up {scores[1][1]} scored {runner_up} of {best}"
        return Detection(name, confidence, detail)

    def sensitive_categories(self, text: str, words: list[str] | None = None) -> dict[str, list[str]]:
        """Money, legal, medical, security: the policy's lists, the built-in lexicons, the classifier."""
        return self._sensitive.categories(text, words)

    # -- the decision ----------------------------------------------------------------------------

    def decide(self, request: RouteInput, *, decided_by: str = "rules", priced: bool = True) -> RouteDecision:
        """The rules' decision. ``priced=False`` leaves the cost estimates out: the learned router reads
        the rules' reasons and floors, then prices its own tier."""
        policy, rules = self.policy, self.policy.rules
        input_tokens = request.input_tokens if request.input_tokens is not None else estimate_tokens(request.text)
        words = tokens(request.text)

        if request.task_type:
            task_type, source, confidence = request.task_type, "given", 1.0
            detection_detail = None
        else:
            detection = self.detect_task_type(request.text, words)
            task_type, source, confidence = detection.task_type, "rules", detection.confidence
            detection_detail = detection.detail

        spec = policy.task_types.get(task_type)
        overrides = spec.overrides if spec else None
        decision = RouteDecision(task_type=task_type, task_type_source=source, tier="", model="", confidence=confidence,
                                 decided_by=decided_by, input_tokens=input_tokens, expected_output_tokens=0,
                                 estimated_cost_usd=None, baseline_cost_usd=None)

        if spec is None:
            tier = rules.unknown_task_tier
            why = (f"task type {task_type!r} is not in the policy" if source == "given"
                   else f"no task type recognised ({detection_detail})")
            decision.add("unknown_task_type", f"{why}; using the safe middle {tier}")
        else:
            tier = spec.tier
            detail = f"{task_type} -> {tier}"
            if detection_detail:
                detail += f" (inferred: {detection_detail}; confidence {confidence})"
            decision.add("task_type", detail)

        max_tokens = (overrides.max_input_tokens if overrides and overrides.max_input_tokens else rules.max_input_tokens)
        if input_tokens > max_tokens:
            raised = policy.at_least(tier, rules.input_size_min_tier)
            decision.add("input_size", f"about {input_tokens} input tokens > {max_tokens}: at least {rules.input_size_min_tier}"
                         + (f", {tier} -> {raised}" if raised != tier else ""))
            tier = raised

        if request.risk == "high":
            raised = policy.at_least(tier, rules.high_risk_min_tier)
            decision.add("high_risk", f"risk high: at least {rules.high_risk_min_tier}"
                         + (f", {tier} -> {raised}" if raised != tier else "") + (" and review" if rules.high_risk_review else ""))
            tier = raised
            if rules.high_risk_review:
                self._flag(decision, "high_risk")

        check_sensitive = overrides.sensitive if overrides and overrides.sensitive is not None else True
        found = self.sensitive_categories(request.text, words) if check_sensitive else {}
        if found:
            sensitive = rules.sensitive
            raised = policy.at_least(tier, sensitive.min_tier)
            listed = "; ".join(f"{category}: {', '.join(hits[:3])}" for category, hits in found.items())
            decision.add("sensitive_content", f"{listed}: at least {sensitive.min_tier}"
                         + (f", {tier} -> {raised}" if raised != tier else "") + (" and review" if sensitive.review else ""))
            tier = raised
            if sensitive.review:
                self._flag(decision, "sensitive_content")

        if request.external and rules.external_review:
            decision.add("external", "output goes to a customer: review before sending, never auto-send")
            self._flag(decision, "external")

        threshold = (overrides.confidence_threshold if overrides and overrides.confidence_threshold is not None
                     else rules.confidence_threshold)
        if spec is not None and confidence < threshold:
            raised = policy.next_tier(tier)
            if raised:
                decision.add("low_confidence", f"confidence {confidence} < {threshold}: one tier up, {tier} -> {raised}")
                tier = raised
            else:
                decision.add("low_confidence", f"confidence {confidence} < {threshold}: already on the top tier")

        if spec is not None and spec.review == "always":
            decision.add("type_requires_review", f"{task_type} drafts always go to review")
            self._flag(decision, "task_type_review")

        decision.tier, decision.model = tier, policy.model_for(tier)
        self._estimate_cost(decision, spec, priced)
        return decision

    @staticmethod
    def _flag(decision: RouteDecision, reason: str) -> None:
        decision.needs_review = True
        if reason not in decision.review_reasons:
            decision.review_reasons.append(reason)

    def _estimate_cost(self, decision: RouteDecision, spec, priced: bool = True) -> None:
        expected = spec.expected_output_tokens if spec and spec.expected_output_tokens else None
        if expected is None:
            expected = max(MIN_EXPECTED_OUTPUT_TOKENS, round(decision.input_tokens * self.policy.rules.expected_output_ratio))
        decision.expected_output_tokens = expected
        if not priced:
            return
        usage = Usage(input_tokens=decision.input_tokens, output_tokens=expected)
        prices = self.policy.prices
        decision.estimated_cost_usd = prices.cost(decision.model, usage)
        decision.baseline_cost_usd = prices.cost(self.policy.baseline_model, usage)


def input_text(text: str | None, messages: list[dict] | None) -> str:
    """The text the rules read: ``text``, or the messages' contents joined."""
    if text:
        return text
    return "\n".join(str(message.get("content", "")) for message in messages or [])


def input_tokens_of(text: str | None, messages: list[dict] | None) -> int:
    return estimate_tokens(text) if text else estimate_message_tokens(messages or [])
