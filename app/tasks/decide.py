"""The intake's first step: route a request with the mode it asks for, and write the decision down.

Routing modes are a registry of routers (``MODES``), like gates and comparators: ``rules`` and
``learned`` decide in process with no model call; ``llm`` and ``hybrid`` go through the LLM router,
whose own call is paid through the guarded call. ``/v1/route``, ``/v1/fallback`` and the drop-in
endpoints all decide here.
"""
from __future__ import annotations

from typing import Any, Callable

from sqlalchemy import insert
from sqlalchemy.orm import Session

from app.calls import SpendGuard
from app.errors import InvalidField
from app.routing import RouteDecision, RouteInput, input_text, input_tokens_of
from app.routing.hybrid import record_router_call
from app.routing.learned import WeightFileError
from app.store import Decision, new_id
from app.tasks import intake
from app.tasks.schemas import TaskInput


def _rules(routing, _llm, request: RouteInput, _mode: str, **_ledger) -> RouteDecision:
    return routing.rules.decide(request)


def _learned(routing, _llm, request: RouteInput, _mode: str, **_ledger) -> RouteDecision:
    return routing.learned.decide(request)


def _llm_router(_routing, llm, request: RouteInput, mode: str, *, session: Session | None = None,
                api_key_id: int | None = None, spend: SpendGuard | None = None) -> RouteDecision:
    decision = llm.decide(request, mode, spend)
    if session is not None:  # the router's call is paid: its own ledger row, in the request's session
        record_router_call(session, decision, mode, api_key_id)
    return decision


# mode -> router(routing state, LLM routing, request, mode, session=, api_key_id=, spend=)
MODES: dict[str, Callable[..., RouteDecision]] = {
    "rules": _rules, "learned": _learned, "llm": _llm_router, "hybrid": _llm_router}


def route_input(body: TaskInput) -> RouteInput:
    messages = [m.model_dump() for m in body.messages or []]
    return RouteInput(text=input_text(body.text, messages), task_type=body.task_type, risk=body.risk,
                      external=body.external, input_tokens=input_tokens_of(body.text, messages))


def decide(routing, llm_routing, body: TaskInput, *, session: Session | None = None,
           api_key_id: int | None = None, spend: SpendGuard | None = None) -> RouteDecision:
    """Route ``body`` with the mode it asks for (``routing``: the policy in force and its routers); an
    LLM-router call is recorded in ``session`` under ``api_key_id`` and held on ``spend`` (the budgets of
    the key and workflow) before it is paid: a spent budget refuses it, and the rules decide."""
    mode = body.resolved_mode
    try:
        return MODES[mode](routing, llm_routing, route_input(body), mode, session=session, api_key_id=api_key_id,
                           spend=spend)
    except WeightFileError as exc:
        raise InvalidField(f"mode '{mode}' needs the learned router, which cannot load: {exc}; use mode 'rules'",
                           "mode", code="mode_unavailable") from None


def decision_row(decision: RouteDecision, body: TaskInput, api_key_id: int | None) -> dict[str, Any]:
    """The ``decisions`` row of ``decision``, with a new id."""
    return dict(
        id=new_id("dec"), api_key_id=api_key_id, mode=body.resolved_mode,
        task_type=decision.task_type, task_type_source=decision.task_type_source,
        decided_by=decision.decided_by, tier=decision.tier, model=decision.model,
        confidence=decision.confidence, risk=body.risk, external=body.external,
        needs_review=decision.needs_review, reasons=decision.reasons, input_tokens=decision.input_tokens,
        estimated_cost_usd=decision.estimated_cost_usd, baseline_cost_usd=decision.baseline_cost_usd,
        request_metadata=body.metadata)


def record_decision(session: Session, decision: RouteDecision, body: TaskInput, api_key_id: int | None) -> str:
    """Store the decision with the request row of the intake building it in ``session`` (else in
    ``session``'s transaction); returns its id."""
    row = decision_row(decision, body, api_key_id)
    if not intake.stage(session, Decision, row):
        session.execute(insert(Decision), [row])
    return row["id"]
