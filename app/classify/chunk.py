"""One chunk of a list through the classify cascade. Pure: no Flask, no database.

For the items of one chunk (docs/architecture.md, "API contract" and "Cascade and gates"):

1. Ask the task type's tier (tier1 by default) for all items at once, as JSON.
2. Items whose verdict failed a gate (malformed answer, label outside the set, no verdict) are asked
   once more on the same tier, with the failure as a hint.
3. Items still failing, and items answered below the confidence threshold (or ``unknown``), go once to
   the next tier up. A low-confidence item that is still unsure there comes back ``unknown`` (or, when
   ``unknown`` is not allowed, with its best label) and ``needs_review``.
4. An item no tier could answer — a provider outage on both tiers, an answer that never parses — comes
   back with an ``error`` entry and ``needs_review``. No item is ever dropped.

Every model call is an ``AttemptRecord``. The first call that answered the chunk is its ``answer``
attempt, the one carrying the baseline cost (the same tokens on the baseline model, no discounts: what
one pass of "everything on one model" would have cost); every further call is a ``retry`` or an
``escalation``, overhead in the ledger's terms.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from app.calls import ANSWER, CIRCUIT, ESCALATION, PROVIDER, RETRY, AttemptRecord, CallObserver, Guards, SpendGuard
from app.classify import prompt
from app.classify.answers import ChunkAnswer, Verdict, read_answer
from app.classify.request import UNKNOWN_LABEL, ClassifySpec
from app.policy.schema import Policy
from app.pricing import PriceTable
from app.providers.base import ModelReply, Provider
from app.providers.breaker import CircuitBreaker


@dataclass
class ChunkOutcome:
    """One result per input text, in order, and every call made for them."""

    results: list[dict[str, Any]]
    attempts: list[AttemptRecord] = field(default_factory=list)
    dry_run: bool = False


@dataclass
class ClassifyPlan:
    """What every chunk of one list shares, built once per list."""

    policy: Policy
    spec: ClassifySpec
    providers: Mapping[str, Provider]
    breaker: CircuitBreaker | None = None
    observers: Sequence[CallObserver] = ()  # told about each call (in-flight notes)
    spend: SpendGuard | None = None  # the request's budget guard, around every call

    def __post_init__(self):
        self.guards = Guards(self.policy.prices, breaker=self.breaker, spend=self.spend, observers=self.observers)
        task = self.policy.task_types.get(self.spec.task_type) or self.policy.task_types.get("list_classification")
        self.start_tier = task.tier if task else self.policy.tier_order[0]
        self.escalation_tier = self.policy.next_tier(self.start_tier)
        self.prefix = prompt.cached_prefix(task.prompt if task else "", self.spec)

    @property
    def prices(self) -> PriceTable:
        return self.policy.prices


def classify_chunk(plan: ClassifyPlan, texts: list[str], *, batch_reply: ModelReply | None = None,
                   batch_error: str | None = None) -> ChunkOutcome:
    """Label ``texts``. With ``batch_reply`` (or ``batch_error``) the first tier1 answer came from the
    Message Batches API at the batch price; retries and escalations then run as normal calls."""
    return _Chunk(plan, texts, batch_reply, batch_error).run()


class _Chunk:
    def __init__(self, plan: ClassifyPlan, texts: list[str], batch_reply: ModelReply | None = None,
                 batch_error: str | None = None):
        self.plan, self.texts = plan, texts
        self.attempts: list[AttemptRecord] = []
        self.answered = False  # has a call answered this chunk yet (the baseline-carrying attempt)?
        self.batch = batch_reply is not None or batch_error is not None
        self.batch_reply, self.batch_error = batch_reply, batch_error

    def run(self) -> ChunkOutcome:
        plan = self.plan
        everyone = list(range(len(self.texts)))
        first = self._ask(plan.start_tier, everyone)
        if first is None and self._dry_run_reply is not None:
            return self._dry_run_outcome()
        verdicts: dict[int, tuple[Verdict, AttemptRecord]] = {}
        failures: dict[int, tuple[str, str]] = {}
        self._merge(first, everyone, verdicts, failures)

        failing = sorted(failures)
        if failing:  # a format slip: one more try on the same tier, with the problem as a hint
            retry = self._ask(plan.start_tier, failing, hint=prompt.retry_hint(failures[failing[0]][1]))
            self._merge(retry, failing, verdicts, failures)

        unsure = sorted(p for p, (verdict, _) in verdicts.items() if self._unsure(verdict))
        failing = sorted(p for p in failures if p not in verdicts)
        escalated: dict[int, tuple[Verdict, AttemptRecord]] = {}
        escalation_failures: dict[int, tuple[str, str]] = {}
        to_escalate = sorted(unsure + failing)
        if to_escalate and plan.escalation_tier:
            answer = self._ask(plan.escalation_tier, to_escalate,
                               hint=prompt.retry_hint(failures[failing[0]][1]) if failing else "")
            self._merge(answer, to_escalate, escalated, escalation_failures)

        results = []
        for position in everyone:
            first_try = verdicts.get(position)
            second_try = escalated.get(position)
            best = second_try or first_try  # the stronger tier's verdict, when it was asked and answered
            if best is None:
                problem = escalation_failures.get(position) or failures.get(position) or ("json", "no answer")
                results.append(self._error(position, problem))
            elif self._unsure(best[0]):
                results.append(self._unsure_result(best, tried_up=second_try is not None or not plan.escalation_tier))
            else:
                results.append(self._result(best, needs_review=False))
        return ChunkOutcome(results, self.attempts)

    # -- calls -------------------------------------------------------------------------------------
    _dry_run_reply: ModelReply | None = None

    def _ask(self, tier: str, positions: list[int], hint: str = "") -> tuple[ChunkAnswer, AttemptRecord] | None:
        """One call for ``positions``; None when the provider failed (recorded as a failed attempt)."""
        plan = self.plan
        model = plan.policy.model_for(tier)
        provider = plan.providers[tier]
        overhead = RETRY if tier == plan.start_tier else ESCALATION
        record = AttemptRecord(tier=tier, model=model, provider=provider.name, purpose=overhead)
        self.attempts.append(record)
        if self.batch:  # the first call of a batched chunk was answered by the batch
            self.batch = False
            record.batch = True  # read by the ledger (Attempt.batch); priced at the batch discount
            if self.batch_reply is None:
                record.gate, record.reason = "provider", f"the batch request failed: {self.batch_error}"
                return None
            plan.guards.book_batch(record, self.batch_reply)
            return self._read(record, positions, self.batch_reply, batch=True)
        call = prompt.chunk_call(model=model, tier=tier, prefix=plan.prefix, texts=[self.texts[p] for p in positions],
                                 purpose=ANSWER if not self.answered else overhead, hint=hint)
        reply = plan.guards.complete(provider, call, record)
        if reply is None:  # not called (circuit open, no budget) or failed: a failed attempt either way
            if record.gate == CIRCUIT:
                record.gate = PROVIDER
            return None
        return self._read(record, positions, reply)

    def _read(self, record: AttemptRecord, positions: list[int], reply: ModelReply, *, batch: bool = False):
        plan = self.plan
        if reply.dry_run:
            self._dry_run_reply = reply
            record.purpose, record.ok, record.reason = ANSWER, True, "dry run: no model was called"
            return None
        answer = read_answer(reply.text, len(positions), plan.spec.label_names, plan.spec.allow_unknown)
        record.ok = not answer.failures
        record.gate, record.reason = answer.gate_summary
        if record.ok:
            record.reason = f"{len(positions)} item(s) answered"
        if answer.verdicts and not self.answered:
            # The first call that answered carries the baseline; calls that failed before it are retries.
            self.answered = True
            record.purpose = ANSWER
            record.baseline_cost_usd = plan.prices.plain_cost(plan.policy.baseline_model, reply.usage)
        return answer, record

    @staticmethod
    def _merge(outcome, positions: list[int], verdicts: dict, failures: dict) -> None:
        """File a call's verdicts under the chunk's positions (the call saw them as 0..n-1)."""
        if outcome is None:
            for position in positions:
                failures.setdefault(position, ("provider", "the model call failed"))
            return
        answer, record = outcome
        for local, position in enumerate(positions):
            if local in answer.verdicts:
                verdicts[position] = (answer.verdicts[local], record)
                failures.pop(position, None)
            else:
                failures[position] = answer.failures.get(local, ("json", "no verdict"))

    # -- results -----------------------------------------------------------------------------------
    def _unsure(self, verdict: Verdict) -> bool:
        return verdict.label == UNKNOWN_LABEL or verdict.confidence < self.plan.spec.confidence_threshold

    @staticmethod
    def _result(best: tuple[Verdict, AttemptRecord], *, needs_review: bool, **extra: Any) -> dict[str, Any]:
        verdict, record = best
        return {"label": verdict.label, "confidence": round(verdict.confidence, 4), "reason": verdict.reason,
                "model": record.model, "tier": record.tier, "needs_review": needs_review, **extra}

    def _unsure_result(self, best: tuple[Verdict, AttemptRecord], tried_up: bool) -> dict[str, Any]:
        verdict, record = best
        threshold = self.plan.spec.confidence_threshold
        why = (f"unsure on {record.tier}: confidence {verdict.confidence:g} below {threshold:g}"
               if verdict.label != UNKNOWN_LABEL else f"{record.model} could not place the item")
        if not tried_up:
            why += "; the escalation tier could not be asked"
        if self.plan.spec.allow_unknown:
            reason = f"{why}. Best guess: {verdict.label} ({verdict.reason})" if verdict.reason else why
            return {"label": UNKNOWN_LABEL, "confidence": round(verdict.confidence, 4), "reason": reason[:400],
                    "model": record.model, "tier": record.tier, "needs_review": True, "suggested_label": verdict.label}
        return self._result(best, needs_review=True, review_reason=why)

    def _error(self, position: int, problem: tuple[str, str]) -> dict[str, Any]:
        gate, reason = problem
        tiers = [a.tier for a in self.attempts]
        last = self.attempts[-1] if self.attempts else None
        return {"label": None, "confidence": 0.0, "reason": f"no usable answer from {', '.join(dict.fromkeys(tiers))}",
                "model": last.model if last else None, "tier": last.tier if last else None, "needs_review": True,
                "error": {"gate": gate, "message": reason[:400]}}

    def _dry_run_outcome(self) -> ChunkOutcome:
        reply = self._dry_run_reply
        record = self.attempts[-1]
        result = {"label": None, "confidence": 0.0, "reason": reply.text, "model": reply.model, "tier": record.tier,
                  "needs_review": False, "dry_run": True}
        return ChunkOutcome([dict(result) for _ in self.texts], self.attempts, dry_run=True)

