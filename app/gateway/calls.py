"""One drop-in call, start to end: decide, store, run the cascade in this process, record, answer.

The steps are those of a sync ``/v1/fallback`` request, through the same service functions: the routing
decision is stored, then the ledger row (kind ``gateway``) is committed before any model is called, then
``app.fallback.service`` runs the cascade and writes attempts, totals and any review, so gateway calls
report, reconcile and review exactly like fallback calls. The answer is built from the attempt the
cascade kept, with the decision in response headers.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask

from app.api.route import decide, record_decision
from app.api.schemas import RouteRequest
from app.cascade.records import ANSWER, CascadeResult
from app.errors import ApiError, InvalidField
from app.fallback import service
from app.gateway import models
from app.gateway.chat import END_TURN, MAX_TOKENS, STOP_SEQUENCE, TOOL_USE, ChatAnswer, ChatRequest
from app.gateway.routing import apply_chat_rules, route_text
from app.policy.schema import Policy, TaskType
from app.pricing import usd
from app.routing import RouteDecision
from app.routing_state import current_policy
from app.store import Request, db, new_id

KIND = "gateway"
STOP_REASONS = frozenset({END_TURN, MAX_TOKENS, STOP_SEQUENCE, TOOL_USE})
HELD_NOTICE = ("This answer is held for review before it may be used ({reasons}). A reviewer decides at {url}; "
               "the decision and the final text are available from Tiergate's review API.")


class UpstreamFailed(ApiError):
    """No tier produced an answer (every provider call failed after retries and failover)."""

    status, code = 502, "upstream_error"


@dataclass(frozen=True)
class RouteHints:
    """Tiergate's own request fields, sent by a drop-in client as ``X-Tiergate-*`` headers."""

    task_type: str | None = None
    risk: str = "low"
    external: bool = False
    mode: str = "rules"


@dataclass
class StoredCall:
    """A drop-in call decided and stored in the ledger, not run yet."""

    request_id: str
    chat: ChatRequest
    payload: dict[str, Any]
    decision: RouteDecision
    policy: Policy


def store_call(chat: ChatRequest, api_key_id: int, hints: RouteHints) -> StoredCall:
    """Route ``chat`` and commit its decision and ledger row before any model is called."""
    policy = current_policy()
    choice = models.resolve(chat.model, policy)
    if hints.task_type and hints.task_type not in policy.task_types:
        raise InvalidField(f"task type {hints.task_type!r} (X-Tiergate-Task-Type) is not in the policy", "task_type")
    route_body = RouteRequest(text=route_text(chat), task_type=hints.task_type, risk=hints.risk,
                              external=hints.external, mode=hints.mode, metadata=chat.metadata)
    decision = apply_chat_rules(decide(route_body), chat, choice, policy)
    decision_id = record_decision(decision, route_body)
    payload = {
        "text": chat.transcript(), "messages": chat.messages, "risk": hints.risk, "external": hints.external,
        "output_schema": chat.json_schema, "metadata": chat.metadata, "model_name": chat.model,
        "decision": {"id": decision_id, "tier": decision.tier, "model": decision.model,
                     "task_type": decision.task_type, "review_reasons": list(decision.review_reasons)},
        "chat": {**chat.options(), "pinned": choice.pinned,
                 "gates": chat_gates(chat, policy.task_types.get(decision.task_type))},
    }
    request_id = new_id("req")
    session = db()
    session.add(Request(id=request_id, kind=KIND, api_key_id=api_key_id, decision_id=decision_id,
                        task_type=decision.task_type, tier=decision.tier, model=decision.model, status="running",
                        exec_mode="stream" if chat.stream else "sync", payload=payload, progress_total=1,
                        request_metadata=chat.metadata))
    session.commit()  # stored before any model is called: a crash leaves a visible row, not nothing
    return StoredCall(request_id, chat, payload, decision, policy)


def answer_chat(app: Flask, chat: ChatRequest, api_key_id: int, hints: RouteHints) -> ChatAnswer:
    """Run ``chat`` through routing and the cascade; the answer carries the decision headers."""
    return run_gated(app, store_call(chat, api_key_id, hints))


def run_gated(app: Flask, call: StoredCall) -> ChatAnswer:
    """The cascade for a stored call, through the service functions of /v1/fallback."""
    try:
        result = service.execute(app, call.payload)
    except BaseException as exc:
        service.mark_failed(app, call.request_id, exc, final=True)
        raise
    stored = service.persist(app, call.request_id, result, call.payload)
    return _answer(call.request_id, result, stored, call.policy)


def chat_gates(chat: ChatRequest, task: TaskType | None) -> list[dict[str, Any]]:
    """The gates of a chat call: the requested JSON format's, else the task type's text gates.

    A task type whose own answers are JSON (classification, extraction) keeps only ``non_empty`` here:
    the client's prompt, not the policy's, decides the format of a chat answer.
    """
    if chat.json_schema is not None:
        return [{"name": "non_empty"}, {"name": "json"}, {"name": "schema"}]
    if chat.json_output:
        return [{"name": "non_empty"}, {"name": "json"}]
    if task is not None and task.output_format == "text" and task.gates:
        return [gate.model_dump() for gate in task.gates]
    return [{"name": "non_empty"}]


def _answer(request_id: str, result: CascadeResult, stored: dict[str, Any], policy: Policy) -> ChatAnswer:
    kept = next((attempt for attempt in result.attempts if attempt.purpose == ANSWER), None)
    if result.status == "failed" or kept is None:
        raise UpstreamFailed(f"no model could answer: {result.error or 'every tier failed'} (request {request_id})")
    content = kept.content or [{"type": "text", "text": kept.output_text or ""}]
    stop_reason = kept.stop_reason if kept.stop_reason in STOP_REASONS else END_TURN
    headers = {"x-tiergate-request-id": request_id, "x-tiergate-decision-id": stored.get("decision_id") or "",
               "x-tiergate-tier": kept.tier, "x-tiergate-model": kept.model,
               "x-tiergate-cost-usd": f"{usd(result.cost_usd):.6f}",
               "x-tiergate-baseline-cost-usd": f"{usd(result.baseline_cost_usd):.6f}"}
    if result.needs_review:
        headers["x-tiergate-review"] = stored.get("review_url") or stored.get("review_id") or "pending"
        if stored.get("review_id"):
            headers["x-tiergate-review-id"] = stored["review_id"]
        treatment = policy.gateway.held_answer_by_task_type.get(result.task_type, policy.gateway.held_answer)
        if treatment == "hold":
            reasons = ", ".join(result.review_reasons) or "policy"
            content = [{"type": "text", "text": HELD_NOTICE.format(reasons=reasons, url=headers["x-tiergate-review"])}]
            stop_reason = END_TURN
    return ChatAnswer(id=request_id, model=kept.model, content=content, stop_reason=stop_reason, usage=kept.usage,
                      headers=headers)
