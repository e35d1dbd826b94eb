"""``llm`` mode: a tier1 model reads the request against a written rubric and places it.

The router model answers ``{tier, task_type, reason, confidence}`` as JSON (docs/architecture.md, "Routing"). The
answer becomes a decision like this, each step named in the reason trail:

1. ``llm_router``: the model's tier and task type (a caller-given task type is kept as given).
2. ``task_type_floor``: a task type the policy knows never goes below its table tier.
3. The deterministic safety rules still apply on top — input size, high risk, money/law/medicine/
   security content, external sending, ``review: always`` — exactly as in rules mode (they are read off
   the rules router's own decision, so the two modes cannot drift apart).
4. ``low_confidence``: a router confidence under the threshold moves one tier up.

A router answer that is not JSON, names an unknown tier, or a router call that failed, falls back to
the safe middle (``rules.unknown_task_tier``) with a ``router_fallback`` reason.

The router's own call is overhead in the ledger: it is recorded as a ``requests`` row of kind
``route`` with one attempt of purpose ``router`` and no baseline cost, and its id and cost ride on the
decision (``router_request_id``, ``router_cost_usd``) for callers that want to link them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Mapping

from app.calls import AttemptRecord, Guards, SpendGuard
from app.gates import parse_json
from app.policy.schema import Policy
from app.pricing import Usage
from app.providers.base import ModelCall, Provider
from app.providers.breaker import CircuitBreaker
from app.routing.rules import UNKNOWN_TASK_TYPE, RouteDecision, RouteInput, RulesRouter
from app.providers.tokens import estimate_tokens

ROUTER_PURPOSE = "router"
# The router reads the start and the end of a long request; its size is given as a number anyway.
ROUTER_INPUT_HEAD_CHARS = 6_000
ROUTER_INPUT_TAIL_CHARS = 2_000
LONG_INPUT_TOKENS = 6_000
MAX_REASON_CHARS = 300

DEFAULT_RUBRIC = f"""You are the router of an LLM gateway for a small business. You do not do the task: you
decide which model tier should do it, from the cheapest that will do it well.

Tiers:
- tier1: trivial, fixed-format work with a checkable answer: classification, labelling, field
  extraction, format rewrite, simple translation, FAQ lookup.
- tier2: standard work that needs context and tone: summaries, reply drafts, customer-service drafts,
  copywriting, sales letters, small code patches.
- tier3: strategic work: architecture decisions, cross-file refactors, complex reviews, strategy,
  long-context synthesis.

Answer these questions about the request before you choose:
1. Does it need multi-step reasoning (planning, weighing options, several dependent steps)? -> at least tier2; deep
   strategic reasoning -> tier3.
2. Is the output sent to a customer or published? -> at least tier2.
3. Does it involve money, law, medicine or security? -> at least tier2.
4. Is it over {LONG_INPUT_TOKENS:,} tokens (the estimated size is given with the request)? -> at least tier2.
If every answer is no and the task has a fixed, checkable output, choose tier1."""

ANSWER_FORMAT = ('Answer with JSON only: {"tier": "<tier1|tier2|tier3>", "task_type": "<one of the task types '
                 'above, or unknown>", "reason": "<which of the questions decided, in one short sentence>", '
                 '"confidence": <0..1, how sure you are of the tier>}')


@dataclass
class LlmRouteDecision(RouteDecision):
    """A decision placed by the LLM router, carrying the router call's ledger entry."""

    router_attempt: AttemptRecord | None = field(default=None, repr=False)


@dataclass(frozen=True)
class RouterVerdict:
    tier: str | None
    task_type: str | None
    reason: str
    confidence: float
    problem: str | None = None  # why the answer could not be used (then tier is None)


def router_prompt(policy: Policy) -> str:
    """The router's stable system prompt: the rubric, the policy's task types, the answer format."""
    rubric = policy.router.rubric.strip() or DEFAULT_RUBRIC
    task_lines = [f"- {name} ({task.tier}): {task.description}".rstrip(": ") for name, task in policy.task_types.items()]
    return "\n\n".join([rubric, "Task types:\n" + "\n".join(task_lines), ANSWER_FORMAT])


def router_message(request: RouteInput, input_tokens: int) -> str:
    text = request.text
    if len(text) > ROUTER_INPUT_HEAD_CHARS + ROUTER_INPUT_TAIL_CHARS:
        skipped = len(text) - ROUTER_INPUT_HEAD_CHARS - ROUTER_INPUT_TAIL_CHARS
        text = f"{text[:ROUTER_INPUT_HEAD_CHARS]}\n[... {skipped} characters left out ...]\n{text[-ROUTER_INPUT_TAIL_CHARS:]}"
    facts = [f"Estimated size: about {input_tokens:,} tokens."]
    if request.external:
        facts.append("The caller says the output goes to a customer.")
    if request.risk != "low":
        facts.append(f"The caller rates the risk as {request.risk}.")
    return " ".join(facts) + "\n\nRequest:\n<<<\n" + text + "\n>>>"


def read_verdict(text: str, policy: Policy) -> RouterVerdict:
    """The router's answer, or a verdict whose ``problem`` says why it cannot be used."""
    try:
        parsed = parse_json(text)
    except ValueError as exc:
        return RouterVerdict(None, None, "", 0.0, f"the router's answer is not JSON ({exc})")
    if not isinstance(parsed, dict):
        return RouterVerdict(None, None, "", 0.0, "the router's answer is not a JSON object")
    tier = str(parsed.get("tier") or "").strip().lower()
    if tier not in policy.tiers:
        return RouterVerdict(None, None, "", 0.0, f"the router named an unknown tier {parsed.get('tier')!r}")
    confidence = parsed.get("confidence")
    if not isinstance(confidence, (int, float)) or isinstance(confidence, bool) or not 0 <= confidence <= 1:
        return RouterVerdict(None, None, "", 0.0, f"the router's confidence {confidence!r} is not between 0 and 1")
    task_type = str(parsed.get("task_type") or "").strip() or None
    reason = re.sub(r"\s+", " ", str(parsed.get("reason") or "")).strip()[:MAX_REASON_CHARS]
    return RouterVerdict(tier, task_type, reason, float(confidence))


class LlmRouter:
    """Asks the router tier's model; one instance per policy, shared between requests."""

    def __init__(self, policy: Policy, rules: RulesRouter, providers: Mapping[str, Provider],
                 breaker: CircuitBreaker | None = None):
        self.policy, self.rules, self.providers = policy, rules, providers
        # The router's call goes through the one guarded call: breaker, attempt record, metrics.
        self.guards = Guards(policy.prices, breaker=breaker)
        self.prompt = router_prompt(policy)

    def ask(self, request: RouteInput, input_tokens: int,
            spend: SpendGuard | None = None) -> tuple[RouterVerdict, AttemptRecord]:
        policy = self.policy
        tier = policy.router.tier
        model = policy.model_for(tier)
        provider = self.providers[tier]
        record = AttemptRecord(tier=tier, model=model, provider=provider.name, purpose=ROUTER_PURPOSE)
        call = ModelCall(model=model, messages=[{"role": "user", "content": router_message(request, input_tokens)}],
                         cached_system=self.prompt, max_tokens=policy.router.max_output_tokens, json_output=True,
                         tier=tier, purpose=ROUTER_PURPOSE, expected_output_tokens=60)
        # ``spend``: the budgets of the request being routed hold the call's upper bound before it is paid.
        reply = replace(self.guards, spend=spend).complete(provider, call, record)
        if reply is None:
            return RouterVerdict(None, None, "", 0.0, f"the router call failed: {record.reason}"), record
        if reply.dry_run:
            record.ok, record.reason = True, "dry run"
            return RouterVerdict(None, None, "", 0.0, "dry run: no router model was called"), record
        verdict = read_verdict(reply.text, policy)
        record.ok = verdict.problem is None
        record.gate, record.reason = (None, verdict.reason) if record.ok else ("json", verdict.problem)
        return verdict, record

    def decide(self, request: RouteInput, spend: SpendGuard | None = None) -> LlmRouteDecision:
        """The whole ``llm``-mode decision: ask the router, then apply the policy's safety rules."""
        input_tokens = estimate_tokens(request.text) if request.input_tokens is None else request.input_tokens
        verdict, record = self.ask(request, input_tokens, spend)
        if record.ok and record.reason == "dry run":
            # No provider key: the rules decide, and the answer says the router was not asked.
            base = self.rules.decide(request)
            decision = LlmRouteDecision(**{name: getattr(base, name) for name in RouteDecision.__dataclass_fields__})
            decision.reasons.insert(0, {"rule": "dry_run", "detail": "no provider key: the LLM router was not asked; "
                                                                    "the rules decided"})
            return decision
        decision = self.place(request, verdict)
        decision.router_attempt, decision.router_cost_usd = record, record.cost_usd
        return decision

    def place(self, request: RouteInput, verdict: RouterVerdict) -> LlmRouteDecision:
        """Turn a router verdict into a decision (pure: no model call)."""
        policy, rules = self.policy, self.policy.rules
        given = request.task_type
        if given:
            task_type = given
        elif verdict.task_type in policy.task_types:
            task_type = verdict.task_type
        else:
            task_type = UNKNOWN_TASK_TYPE
        # The rules router applies the same safety rules as in rules mode; we read its floors back.
        base = self.rules.decide(replace(request, task_type=task_type), decided_by="llm")
        spec = policy.task_types.get(task_type)
        decision = LlmRouteDecision(**{name: getattr(base, name) for name in RouteDecision.__dataclass_fields__})
        decision.reasons, decision.needs_review, decision.review_reasons = [], False, []
        decision.task_type_source = "given" if given else "llm"
        decision.decided_by = "llm"

        if verdict.problem:
            tier = rules.unknown_task_tier
            decision.confidence = 0.0
            decision.add("router_fallback", f"{verdict.problem}; using the safe middle {tier}")
        else:
            tier = verdict.tier
            decision.confidence = verdict.confidence
            named = f"task type {verdict.task_type}" if verdict.task_type else "no task type"
            decision.add("llm_router", f"{policy.model_for(policy.router.tier)} chose {tier} ({named}, confidence "
                                       f"{verdict.confidence:g})" + (f": {verdict.reason}" if verdict.reason else ""))
            if spec is not None and policy.tier_rank(spec.tier) > policy.tier_rank(tier):
                decision.add("task_type_floor", f"{task_type} is at least {spec.tier} in the policy, {tier} -> {spec.tier}")
                tier = spec.tier

        floors = {"input_size": rules.input_size_min_tier, "high_risk": rules.high_risk_min_tier,
                  "sensitive_content": rules.sensitive.min_tier}
        for reason in base.reasons:
            rule = reason["rule"]
            if rule in floors:
                raised = policy.at_least(tier, floors[rule])
                detail = re.sub(r", tier\w+ -> tier\w+", "", reason["detail"])
                decision.add(rule, detail + (f", {tier} -> {raised}" if raised != tier else ""))
                tier = raised
            elif rule in ("external", "type_requires_review"):
                decision.add(rule, reason["detail"])
        decision.needs_review, decision.review_reasons = base.needs_review, list(base.review_reasons)

        if not verdict.problem:
            overrides = spec.overrides if spec else None
            threshold = (overrides.confidence_threshold if overrides and overrides.confidence_threshold is not None
                         else rules.confidence_threshold)
            if verdict.confidence < threshold:
                raised = policy.next_tier(tier)
                if raised:
                    decision.add("low_confidence", f"router confidence {verdict.confidence:g} < {threshold:g}: "
                                                   f"one tier up, {tier} -> {raised}")
                    tier = raised
                else:
                    decision.add("low_confidence", f"router confidence {verdict.confidence:g} < {threshold:g}: "
                                                   "already on the top tier")

        decision.tier, decision.model = tier, policy.model_for(tier)
        usage = Usage(input_tokens=decision.input_tokens, output_tokens=decision.expected_output_tokens)
        decision.estimated_cost_usd = policy.prices.cost(decision.model, usage)
        decision.baseline_cost_usd = policy.prices.cost(policy.baseline_model, usage)
        return decision

