"""POST /v1/route: decide tier and model, explain why, store the decision. No model call in rules or learned mode."""
from __future__ import annotations

from decimal import Decimal

from flask import current_app, g, jsonify
from sqlalchemy import insert

from app.api import bp
from app.api.body import read_body
from app.api.schemas import RouteRequest
from app.money.budgets import budgets_for
from app.money.overhead import workflow_of
from app.api.auth import require_scope
from app.errors import InvalidField
from app.routing.learned import WeightFileError
from app.metrics import ROUTE_DECISIONS
from app.web.openapi import document
from app.pricing import usd
from app.routing import RouteDecision, RouteInput, input_text, input_tokens_of
from app.routing.hybrid import record_router_call
from app.store import Decision, new_id
from app.store.group_commit import GroupCommit
from app.web.context import db, runtime


def decide(body: RouteRequest) -> RouteDecision:
    """Route a request with the mode it asks for; shared by route, fallback and classify."""
    rt = runtime()
    routing = rt.routing
    route_input = RouteInput(text=input_text(body.text, [m.model_dump() for m in body.messages or []]),
                             task_type=body.task_type, risk=body.risk, external=body.external,
                             input_tokens=input_tokens_of(body.text, [m.model_dump() for m in body.messages or []]))
    mode = body.resolved_mode
    if mode == "rules":
        return routing.rules.decide(route_input)
    try:
        if mode == "learned":
            return routing.learned.decide(route_input)
        decision = rt.llm_routing.decide(route_input, mode)
        api_key = getattr(g, "api_key", None)
        record_router_call(db(), decision, mode, api_key.id if api_key is not None else None)  # paid: in the ledger
        return decision
    except WeightFileError as exc:
        raise InvalidField(f"mode '{mode}' needs the learned router, which cannot load: {exc}; use mode 'rules'",
                           "mode", code="mode_unavailable") from None


def record_decision(decision: RouteDecision, body: RouteRequest, *, commit_now: bool = False) -> str:
    """Store the decision and return its id: in the request's transaction, or (``commit_now``, the
    /v1/route hot path) committed at once together with other requests' decisions (group commit)."""
    decision_id = new_id("dec")
    row = dict(
        id=decision_id, api_key_id=getattr(g, "api_key", None) and g.api_key.id, mode=body.resolved_mode,
        task_type=decision.task_type, task_type_source=decision.task_type_source,
        decided_by=decision.decided_by, tier=decision.tier, model=decision.model,
        confidence=decision.confidence, risk=body.risk, external=body.external,
        needs_review=decision.needs_review, reasons=decision.reasons, input_tokens=decision.input_tokens,
        estimated_cost_usd=decision.estimated_cost_usd, baseline_cost_usd=decision.baseline_cost_usd,
        request_metadata=body.metadata)
    if commit_now:
        group_commit().insert(Decision, row)
    else:
        db().execute(insert(Decision), [row])
    return decision_id


def group_commit() -> GroupCommit:
    """This process's group committer for decisions."""
    committer = current_app.extensions.get("decisions.group_commit")
    if committer is None:
        committer = current_app.extensions["decisions.group_commit"] = GroupCommit(runtime().store)
    return committer


def decision_json(decision: RouteDecision, decision_id: str, metadata: dict) -> dict:
    return {
        "decision_id": decision_id,
        "tier": decision.tier,
        "model": decision.model,
        "task_type": decision.task_type,
        "task_type_source": decision.task_type_source,
        "confidence": decision.confidence,
        "reasons": decision.reasons,
        "decided_by": decision.decided_by,
        "input_tokens": decision.input_tokens,
        "expected_output_tokens": decision.expected_output_tokens,
        "estimated_cost_usd": usd(decision.estimated_cost_usd),
        "baseline_cost_usd": usd(decision.baseline_cost_usd),
        "needs_review": decision.needs_review,
        "review_reasons": decision.review_reasons,
        "metadata": metadata,
        # The LLM router's own call (llm / hybrid modes) is paid and recorded as a ledger row of its own.
        "router_cost_usd": usd(decision.router_cost_usd),
        "router_request_id": decision.router_request_id,
    }


@bp.post("/route")
@require_scope("route")
def route():
    body = RouteRequest.model_validate(read_body())
    decision = decide(body)
    if decision.router_request_id:  # the LLM router's ledger row is in this request's session: commit it
        db().commit()  # first, or the group commit below would wait on this session's write lock (SQLite)
    decision_id = record_decision(decision, body, commit_now=True)
    if decision.router_request_id:  # the router call counts against the key's and workflow's budgets
        budgets_for(runtime().store, runtime().settings).spend(
            decision.router_request_id, api_key_id=g.api_key.id, workflow=workflow_of(body.metadata)).settle(
            Decimal(0), decision.router_cost_usd, draw=False)
    ROUTE_DECISIONS.labels(tier=decision.tier, decided_by=decision.decided_by).inc()
    return jsonify(decision_json(decision, decision_id, body.metadata))


document("/v1/route", "post", "Decide tier and model for a task, with the reason trail (no model call in rules or "
         "learned mode; learned is the default without a task_type)",
         scope="route", request_model=RouteRequest,
         responses={"200": "the decision", "400": "malformed body", "403": "key lacks the scope",
                    "413": "body too large"})
