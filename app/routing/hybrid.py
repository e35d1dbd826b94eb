"""``hybrid`` mode, and the process's LLM routing that serves both model-assisted modes.

Hybrid: the rules first; then the learned router where the rules cannot place the request — no task
type keyword matched (unknown type), or the signals conflict (two task types matched and the margin
leaves the detection below ``rules.confidence_threshold``); the LLM router only where the learned
router is unsure too (its confidence in a task type, low where it could not tell, below
``router.learned_confidence_threshold``). A caller-given task type is always placed by the rules.
The answer's ``decided_by`` says which layer decided, and the first reason says why.
"""
from __future__ import annotations

from decimal import Decimal

from typing import TYPE_CHECKING, Callable

from sqlalchemy.orm import Session

from app.policy.schema import Policy
from app.calls import SpendGuard
from app.routing.learned import LearnedRouter
from app.routing.llm import LlmRouteDecision, LlmRouter
from app.routing.rules import UNKNOWN_TASK_TYPE, RouteDecision, RouteInput, RulesRouter
from app.store import Attempt, Request, utcnow

if TYPE_CHECKING:
    from app.providers.breaker import CircuitBreaker
    from app.providers import Provider
    from app.routing.state import RoutingState

MODES = ("llm", "hybrid")


def rules_cannot_place(decision: RouteDecision, policy: Policy) -> str | None:
    """Why the rules' decision should go to the LLM router, or None when the rules placed it."""
    if decision.task_type_source != "rules":
        return None
    if decision.task_type == UNKNOWN_TASK_TYPE:
        return "no task type keyword matched"
    spec = policy.task_types.get(decision.task_type)
    overrides = spec.overrides if spec else None
    threshold = (overrides.confidence_threshold if overrides and overrides.confidence_threshold is not None
                 else policy.rules.confidence_threshold)
    if decision.confidence < threshold:
        return f"conflicting or weak signals: {decision.task_type} at confidence {decision.confidence:g} < {threshold:g}"
    return None


def hybrid_decide(rules: RulesRouter, learned: LearnedRouter, llm: LlmRouter, request: RouteInput,
                  spend: SpendGuard | None = None) -> RouteDecision:
    decision = rules.decide(request)
    why = rules_cannot_place(decision, rules.policy)
    if why is None:
        decision.reasons.insert(0, {"rule": "hybrid", "detail": "the rules placed the request; no router call"})
        return decision
    scored = learned.score(request.text)
    if learned.is_sure(scored):
        placed = learned.decide(request, scored)
        placed.reasons.insert(0, {"rule": "hybrid", "detail": f"the rules could not place the request ({why}); the "
                                                              "learned router placed it; no router call"})
        return placed
    placed = llm.decide(request, spend)
    placed.reasons.insert(0, {"rule": "hybrid", "detail": f"the rules could not place the request ({why}) and the "
                                                          f"learned router is unsure ({scored.task_type} p="
                                                          f"{scored.probability:.2f}, confidence {scored.confidence:.2f} < "
                                                          f"{learned.confidence_threshold:g}); "
                                                          "asked the LLM router"})
    return placed


class LlmRouting:
    """``Runtime.llm_routing``: ``decide(route_input, mode)`` for ``llm`` and ``hybrid``.

    Reads the policy in force (``routing()``, swappable) and the process's providers for it on each
    decision. The router call is paid: the caller records it in the ledger (``record_router_call``) with
    the request's session, so it commits with the request.
    """

    def __init__(self, routing: Callable[[], "RoutingState"], providers: Callable[[Policy], dict[str, "Provider"]],
                 breaker: "CircuitBreaker | None" = None):
        self.routing, self.providers, self.breaker = routing, providers, breaker
        self._routers: tuple[Policy, LlmRouter] | None = None

    def router(self) -> tuple[RulesRouter, LlmRouter]:
        state = self.routing()
        cached = self._routers
        if cached is None or cached[0] is not state.policy:
            cached = (state.policy, LlmRouter(state.policy, state.rules, self.providers(state.policy),
                                                  breaker=self.breaker))
            self._routers = cached
        return state.rules, cached[1]

    def decide(self, request: RouteInput, mode: str, spend: SpendGuard | None = None) -> RouteDecision:
        state = self.routing()
        rules, llm = self.router()
        if mode == "llm":
            return llm.decide(request, spend)
        return hybrid_decide(rules, state.learned, llm, request, spend)


def record_router_call(session: Session, decision: RouteDecision, mode: str, api_key_id: int | None) -> None:
    """The router call of ``decision`` (if it made one) in the ledger: overhead (no baseline), added to
    the caller's session (committed with it). /v1/fallback also links the row to its request
    (app.money.overhead)."""
    if not isinstance(decision, LlmRouteDecision) or decision.router_attempt is None:
        return
    attempt = decision.router_attempt
    row = Request(kind="route", task_type=decision.task_type, tier=attempt.tier, model=attempt.model,
                  api_key_id=api_key_id, status="done" if attempt.ok else "failed", exec_mode="sync",
                  payload={"mode": mode, "input_tokens": decision.input_tokens},
                  result={"tier": decision.tier, "decided_by": decision.decided_by, "reasons": decision.reasons},
                  cost_usd=attempt.cost_usd, baseline_cost_usd=Decimal(0), latency_ms=attempt.latency_ms,
                  finished_at=utcnow(), progress_total=1, progress_done=1)
    row.attempts.append(Attempt(seq=1, purpose=attempt.purpose, tier=attempt.tier, model=attempt.model,
                                provider=attempt.provider, ok=attempt.ok, gate=attempt.gate, reason=attempt.reason,
                                input_tokens=attempt.usage.input_tokens, output_tokens=attempt.usage.output_tokens,
                                cache_read_tokens=attempt.usage.cache_read_tokens,
                                cache_write_tokens=attempt.usage.cache_write_tokens,
                                cache_write_1h_tokens=attempt.usage.cache_write_1h_tokens, cost_usd=attempt.cost_usd,
                                baseline_cost_usd=Decimal(0), latency_ms=attempt.latency_ms,
                                output_text=attempt.output_text))
    session.add(row)
    session.flush()
    decision.router_request_id = row.id


__all__ = ["LlmRouting", "hybrid_decide", "record_router_call", "rules_cannot_place"]
