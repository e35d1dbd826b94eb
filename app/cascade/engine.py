"""The cascade: run a task on its tier, check the answer, retry, escalate with a hint, or hand it to review.

docs/architecture.md, "Cascade and gates", step by step:

1. Call the decision's tier. A model whose circuit is open (``app.providers.breaker``) is handled as
   its tier's ``on_provider_error`` says: ``wait`` for it (within ``CascadeInput.wait_until``),
   ``next_tier`` (recorded in ``skipped``), or ``fail``.
2. Run the task type's gates, cheapest first. Pass -> keep the answer.
3. A format failure on the starting tier gets exactly one retry there, with the failure as a hint.
4. Otherwise go one tier up, passing every failed answer and its failure reason as hints.
5. The top tier failing, or the spend cap (``max_cost_usd``) leaving no room for the next try, ends
   the run as a draft for review. A provider failure (after the transport's own retries) counts
   towards the model's circuit breaker and is handled by ``on_provider_error`` as in step 1: by
   default the run waits for the provider instead of paying a more expensive tier for its outage.
6. High-risk, external and ``review: always`` tasks always end as ``needs_review`` drafts.

A chat call from the drop-in gateway (``CascadeInput.chat``) runs the same steps on the client's own
conversation: its system prompt is the stable prefix (the client's own blocks and cache markers where it
sent them), its tools and stop sequences go to the model, the gateway names the gates (the requested
JSON format's, or the task type's), and ``pinned`` keeps it on its tier. An answer that asks the client
to run a tool is kept as it is: gates and review apply to the answer text, which comes in a later call
once the client has run the tool.

The ledger rule (app.store.models): only the kept answer attempt carries a baseline cost (its tokens on
the baseline model, no discounts but the cache the client's own markers earned); retries, discarded
escalations and self-checks are overhead.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Mapping, Sequence

from app.gates import GATES, GateContext, build_gates, run_gates
from app.gates.base import Gate
from app.policy.schema import Policy, TaskType
from app.pricing import PriceTable, Usage, usd
from app.calls import BUDGET, CIRCUIT, PROVIDER, CallObserver, Guards, SpendGuard
from app.providers.base import ModelCall, Provider, tool_uses
from app.providers.breaker import CircuitBreaker
from app.cascade import prompts
from app.cascade.records import ANSWER, ESCALATION, RETRY, SELF_CHECK, AttemptRecord, CascadeResult


@dataclass
class CascadeInput:
    """One task to run: what the routing decision and the caller's request say."""

    task_type: str
    task: TaskType
    tier: str
    text: str | None = None
    messages: list[dict[str, Any]] | None = None
    risk: str = "low"
    external: bool = False
    output_schema: dict[str, Any] | None = None
    max_cost_usd: Decimal | None = None
    labels: list[str] | None = None
    snippets: list[str] = field(default_factory=list)
    review_reasons: list[str] = field(default_factory=list)
    confidence_threshold: float | None = None
    # time.monotonic() until which the run may wait out a provider outage (``on_provider_error: wait``);
    # None: no waiting, an unavailable provider fails the run at once.
    wait_until: float | None = None
    # How that waiting is done: a web process lets another request's work run meanwhile (``app.tasks.turns``).
    pause: Callable[[float], None] | None = None  # None: time.sleep
    # A drop-in gateway call: system, tools, tool_choice, temperature, top_p, stop, max_tokens,
    # json_output, json_schema, gates (specs) and pinned; see app.gateway.
    chat: dict[str, Any] | None = None


# Between tries of a model that failed while its tier waits for it, at least this long.
PROVIDER_RETRY_SECONDS = 1.0


def run_cascade(policy: Policy, job: CascadeInput, providers: Mapping[str, Provider], *,
                breaker: CircuitBreaker | None = None, prices: PriceTable | None = None,
                observers: Sequence[CallObserver] = (), spend: SpendGuard | None = None) -> CascadeResult:
    """Run ``job`` through the cascade; never raises for model trouble (that is a ``failed`` result).

    ``spend`` reserves each call's estimate before it and books its cost after; a call it refuses ends
    the run like the spend cap does.
    """
    guards = Guards(prices or policy.prices, breaker=breaker, spend=spend, observers=observers)
    return _Run(policy, job, providers, guards).run()


class _Run:
    def __init__(self, policy: Policy, job: CascadeInput, providers: Mapping[str, Provider], guards: Guards):
        self.policy, self.job, self.providers, self.guards = policy, job, providers, guards
        self.breaker, self.prices = guards.breaker, guards.prices
        self.blocked = False
        self.attempts: list[AttemptRecord] = []
        self.skipped: list[dict[str, Any]] = []
        self.hints: list[prompts.Hint] = []
        self.chat = job.chat or {}
        gate_specs = list(job.task.gates)
        if job.task.output_format == "json" and not any(spec.name == "confidence" for spec in gate_specs):
            gate_specs.append({"name": "confidence"})  # a JSON answer that reports low confidence is unsure
        if self.chat.get("gates") is not None:
            gate_specs = list(self.chat["gates"])
        self.gates: list[Gate] = build_gates(gate_specs)
        if job.chat is not None:  # the client's own system prompt replaces the task type's prompt
            self.prefix = self.chat.get("system") or ""
        else:
            self.prefix = prompts.cached_prefix(job.task.prompt, job.task.output_schema, job.snippets)
        self.input_text = prompts.input_text(job.text, job.messages)
        self.stop_reason: str | None = None
        self.stop_rule = "gates_failed"
        self.estimated_cost: Decimal | None = None

    @property
    def spent(self) -> Decimal:
        return sum((attempt.cost_usd for attempt in self.attempts), Decimal(0))

    def run(self) -> CascadeResult:
        tier: str | None = self.job.tier
        retried = False
        kept: AttemptRecord | None = None
        while tier is not None:
            model = self.policy.model_for(tier)
            if not self.guards.available(model):
                action = self._on_provider_error(tier, model, self.breaker.remaining(model))
                if action == "stop":
                    break
                if action == "next_tier" and self.chat.get("pinned"):
                    break
                tier = self.policy.next_tier(tier) if action == "next_tier" else tier
                continue
            if self.attempts and self._over_cap(model):
                self.guards.release(model)  # the circuit's permission was taken, the model is not called
                break
            attempt = self._attempt(tier, model)
            if self.blocked:
                break
            if attempt.purpose == "dry_run":
                return self._finish(attempt, passed=True, dry_run=True)
            if attempt.ok:
                kept = attempt
                break
            if attempt.gate == "provider":
                action = self._on_provider_error(tier, model, PROVIDER_RETRY_SECONDS, attempt.reason)
                if action == "stop":
                    break
                if action == "wait":
                    continue
            else:
                self.hints.append(prompts.Hint(tier, model, attempt.output_text or "", attempt.reason or ""))
                gate_cls = GATES.get(attempt.gate or "")
                if tier == self.job.tier and not retried and gate_cls is not None and gate_cls.retry_same_tier:
                    retried = True
                    continue
            next_tier = None if self.chat.get("pinned") else self.policy.next_tier(tier)
            if next_tier is None:
                self.stop_rule, self.stop_reason = "top_tier_failed", f"the top tier ({tier}) failed: {attempt.reason}"
            tier = next_tier
        if kept is None and self.stop_reason is None and self.skipped and not self._drafts():
            self.stop_rule, self.stop_reason = "provider_unavailable", (
                "every tier from the decision's tier up is unavailable: "
                + "; ".join(skip["reason"] for skip in self.skipped))
        draft = kept or next(iter(reversed(self._drafts())), None)
        return self._finish(draft, passed=kept is not None)

    # -- steps -----------------------------------------------------------------------------------
    def _on_provider_error(self, tier: str, model: str, wait_seconds: float, failure: str | None = None) -> str:
        """What to do when ``model`` failed or its circuit is open: "wait" (slept; try the same tier
        again), "next_tier" (recorded in ``skipped``) or "stop" (the run fails, naming the provider state)."""
        action = self.policy.tiers[tier].on_provider_error
        state = self.breaker.describe(model) if self.breaker else f"{model} failed"
        if action == "next_tier":
            if failure is None:
                self.skipped.append({"tier": tier, "model": model, "reason": state})
            return "next_tier"
        left = (self.job.wait_until - time.monotonic()) if self.job.wait_until is not None else 0.0
        if action == "wait" and left > 0:
            (self.job.pause or time.sleep)(min(max(wait_seconds, 0.05), left))
            return "wait"
        self.stop_rule = "provider_unavailable"
        waited = " (waited as long as the request allows)" if action == "wait" and self.job.wait_until else ""
        last = failure or next((a.reason for a in reversed(self.attempts) if a.gate == "provider"), None)
        self.stop_reason = f"{state}; last failure: {last}{waited}" if last and not failure else f"{failure or state}{waited}"
        return "stop"

    def _over_cap(self, model: str) -> bool:
        """Would the next try break the spend cap? Estimate: the last call's tokens plus its answer as a
        hint, on the next model, without cache discount."""
        cap = self.job.max_cost_usd
        if cap is None:
            return False
        last = next((a for a in reversed(self.attempts) if a.purpose != SELF_CHECK and a.output_text), None)
        estimate = Decimal(0)
        if last is not None:
            usage = last.usage
            estimate = self.prices.plain_cost(model, Usage(input_tokens=usage.total_input_tokens + usage.output_tokens,
                                                           output_tokens=usage.output_tokens))
        if self.spent + estimate <= cap:
            return False
        self.stop_rule = "spend_cap"
        self.stop_reason = (f"spend cap ${usd(cap):g} reached: ${usd(self.spent):g} spent, the next try on "
                            f"{model} would cost about ${usd(estimate):g}")
        return True

    def _call(self, tier: str, model: str, purpose: str, system: str, messages: list[dict[str, Any]],
              cached: str, json_output: bool) -> ModelCall:
        spec = self.policy.tiers[tier]
        chat = self.chat if purpose != SELF_CHECK else {}
        return ModelCall(model=model, messages=messages, cached_system=cached, system=system,
                         max_tokens=chat.get("max_tokens") or self.job.task.max_output_tokens or spec.max_output_tokens,
                         json_output=json_output, tier=tier, purpose=purpose,
                         expected_output_tokens=self.job.task.expected_output_tokens,
                         tools=chat.get("tools"), tool_choice=chat.get("tool_choice"), temperature=chat.get("temperature"),
                         top_p=chat.get("top_p"), stop=chat.get("stop"), json_schema=chat.get("json_schema"),
                         system_blocks=chat.get("system_blocks"),
                         # A drop-in client waits on the call itself (it has no 202 to fall back on):
                         # its calls end at the request's bound.
                         deadline=self.job.wait_until if self.job.chat is not None else None)

    def _attempt(self, tier: str, model: str) -> AttemptRecord:
        """One answer try on ``tier``: the call, then its gates (a self-check adds its own attempt)."""
        provider = self.providers[tier]
        json_output = (self.chat["json_output"] if "json_output" in self.chat
                       else self.job.task.output_format == "json" or bool(self.job.output_schema))
        system = prompts.request_system(self.job.labels, self.job.output_schema, self.hints)
        call = self._call(tier, model, ANSWER, system, prompts.input_messages(self.job.text, self.job.messages),
                          self.prefix, json_output)
        record = self._invoke(provider, call, ANSWER)
        if record.gate in ("provider", "budget"):
            return record
        if getattr(provider, "dry_run", False):
            record.purpose, record.ok, record.reason = "dry_run", True, "dry run: gates not applied"
            return record
        if tool_uses(record.content):
            record.ok, record.reason = True, "tool call: the client runs the tool; gates check the final answer"
            return record
        context = GateContext(labels=self.job.labels, output_schema=self.job.output_schema or self.job.task.output_schema,
                              output_model=self.job.task.output_model, task_prompt=self.job.task.prompt,
                              input_text=self.input_text, ask=lambda s, u: self._self_check(provider, tier, model, s, u),
                              confidence_threshold=self._threshold())
        checks_before = len(self.attempts)
        results = run_gates(self.gates, record.output_text or "", context)
        self._note_self_check(results, self.attempts[checks_before:])
        record.gate_results = [result.to_dict() for result in results]
        failed = next((result for result in results if not result.ok), None)
        record.ok = failed is None
        record.parsed = context.parsed
        if failed is not None:
            record.gate, record.reason = failed.gate, failed.reason
        else:
            record.reason = "passed " + ", ".join(result.gate for result in results) if results else "no gates"
        return record

    def _invoke(self, provider: Provider, call: ModelCall, purpose: str) -> AttemptRecord:
        """One call through the guards (the run's loop took the breaker's permission for answers)."""
        record = AttemptRecord(tier=call.tier or "", model=call.model, provider=provider.name, purpose=purpose)
        reply = self.guards.complete(provider, call, record, circuit_checked=purpose == ANSWER)
        if record.gate in (BUDGET, CIRCUIT):  # never called, so not an attempt
            if record.gate == BUDGET:  # the run ends here
                self.blocked, self.stop_rule, self.stop_reason = True, "budget", record.reason
            record.gate = "budget" if record.gate == BUDGET else PROVIDER
            return record
        self.attempts.append(record)
        if reply is not None and reply.estimated_cost_usd is not None:
            self.estimated_cost = reply.estimated_cost_usd
        return record

    def _self_check(self, provider: Provider, tier: str, model: str, system: str, user: str) -> str:
        call = self._call(tier, model, SELF_CHECK, "", [{"role": "user", "content": user}], system, True)
        record = self._invoke(provider, call, SELF_CHECK)
        if record.gate in ("provider", "budget"):
            return '{"pass": false, "reason": "the self-check call failed"}'
        return record.output_text or ""

    @staticmethod
    def _note_self_check(results, checks: list[AttemptRecord]) -> None:
        """Give the self-check attempt the gate's verdict, so the attempt list reads on its own."""
        verdict = next((result for result in results if result.gate == "self_check"), None)
        for record in checks:
            if verdict is not None and record.gate != "provider":
                record.ok, record.gate, record.reason = verdict.ok, "self_check", verdict.reason

    def _threshold(self) -> float:
        task_override = self.job.task.overrides.confidence_threshold
        for value in (self.job.confidence_threshold, task_override):
            if value is not None:
                return value
        return self.policy.rules.confidence_threshold

    def _drafts(self) -> list[AttemptRecord]:
        return [a for a in self.attempts if a.purpose != SELF_CHECK and a.output_text is not None]

    # -- the result ------------------------------------------------------------------------------
    def _review_reasons(self, passed: bool) -> list[dict[str, str]]:
        """Why the answer waits for a person, as ``{rule, detail}``; the rule names match the router's."""
        rules, job = self.policy.rules, self.job
        reasons = [{"rule": key, "detail": "flagged by the routing decision"} for key in job.review_reasons]
        if job.risk == "high" and rules.high_risk_review:
            reasons.append({"rule": "high_risk", "detail": "risk is high: a person checks the answer before it is used"})
        if job.external and rules.external_review:
            reasons.append({"rule": "external", "detail": "the answer goes to a customer and is reviewed before sending"})
        if job.task.review == "always":
            reasons.append({"rule": "task_type_review", "detail": f"{job.task_type} drafts always go to review"})
        if not passed and self.stop_reason:
            reasons.append({"rule": self.stop_rule, "detail": self.stop_reason})
        unique: dict[str, dict[str, str]] = {}
        for reason in reasons:
            if reason["rule"] not in unique or unique[reason["rule"]]["detail"].startswith("flagged by"):
                unique[reason["rule"]] = reason
        return list(unique.values())

    def _finish(self, answer: AttemptRecord | None, passed: bool, dry_run: bool = False) -> CascadeResult:
        for attempt in self.attempts:
            if attempt is answer:
                attempt.purpose = ANSWER
                attempt.baseline_cost_usd = Decimal(0) if dry_run else self.prices.baseline_cost(
                    self.policy.baseline_model, attempt.usage, attempt.cache_markers)
            elif attempt.purpose != SELF_CHECK:
                attempt.purpose = RETRY if attempt.tier == self.job.tier else ESCALATION
        # A tool call goes back to the client's own code, not to a person: review waits for the answer text.
        reasons = [] if answer is not None and tool_uses(answer.content) else self._review_reasons(passed)
        if answer is None:
            status, output = "failed", None
        else:
            status = "needs_review" if reasons else "done"
            wants_object = self.job.task.output_format == "json" or self.job.output_schema is not None
            output = answer.parsed if passed and wants_object and answer.parsed is not None else answer.output_text
        final_tier = answer.tier if answer else None
        touched = [a.tier for a in self.attempts] + [s["tier"] for s in self.skipped]
        top = max(touched, key=self.policy.tier_rank) if touched else self.job.tier
        return CascadeResult(
            task_type=self.job.task_type, status=status, output=output, tier=final_tier,
            model=answer.model if answer else None, start_tier=self.job.tier,
            escalated=self.policy.tier_rank(final_tier or top) > self.policy.tier_rank(self.job.tier),
            needs_review=status == "needs_review", review_reasons=[r["rule"] for r in reasons] if answer else [],
            review_details=reasons if answer else [], attempts=self.attempts,
            skipped=self.skipped, dry_run=dry_run, estimated_cost_usd=self.estimated_cost,
            error=None if answer else (self.stop_reason or "; ".join(a.reason or "" for a in self.attempts)
                                       or "no tier could run the task"),
            stop_rule=None if answer else self.stop_rule,
        )
