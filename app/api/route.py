"""POST /v1/route: decide tier and model, explain why, store the decision. No model call in rules or learned mode."""
from __future__ import annotations


from flask import g, jsonify

from app.api import bp
from app.api.body import read_body
from app.tasks.decide import decide as decide_with, decision_row
from app.tasks.schemas import RouteRequest, TaskInput
from app.money.overhead import router_spend
from app.api.auth import require_scope
from app.metrics import ROUTE_DECISIONS
from app.web.openapi import document
from app.pricing import usd
from app.routing import RouteDecision
from app.store import Decision
from app.store.group_commit import GroupCommit
from app.web.context import db, runtime


def decide(body: TaskInput) -> RouteDecision:
    """Route a request with the mode it asks for (``app.tasks.decide``), on this process's routers; a paid
    LLM-router call is recorded in the request's session."""
    rt = runtime()
    api_key = getattr(g, "api_key", None)
    api_key_id = api_key.id if api_key is not None else None
    return decide_with(rt.routing, rt.llm_routing, body, session=db(), api_key_id=api_key_id,
                       spend=router_spend(rt.store, api_key_id, body.metadata, rt.settings))


def group_commit() -> GroupCommit:
    """This process's group committer: decisions share commits with the intake's and outcomes' writes."""
    return runtime().store.group_commit


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
    row = decision_row(decision, body, g.api_key.id)
    group_commit().insert(Decision, row)  # committed at once, together with other requests' decisions
    decision_id = row["id"]
    ROUTE_DECISIONS.labels(tier=decision.tier, decided_by=decision.decided_by).inc()
    return jsonify(decision_json(decision, decision_id, body.metadata))


document("/v1/route", "post", "Decide tier and model for a task, with the reason trail (no model call in rules or "
         "learned mode; learned is the default without a task_type)",
         scope="route", request_model=RouteRequest,
         responses={"200": "the decision", "400": "malformed body", "403": "key lacks the scope",
                    "413": "body too large"})
