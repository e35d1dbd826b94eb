"""One drop-in call, start to end: decide, store, run the cascade in this process, record, answer.

The steps are those of a sync ``/v1/fallback`` request, through the same service functions: the one
intake (``app.tasks.intake``: budgets, ``Idempotency-Key``, the ledger row of kind ``gateway``, running
and leased to this process) commits the request before any model is called, then ``app.tasks.runner.start_sync`` runs the cascade beside the HTTP request
and stores attempts, totals and any review in one transaction, so gateway calls report, reconcile,
review and recover (a dead process's call is rescued by the workers) exactly like fallback calls. The
answer is built from the attempt the cascade kept, with the decision in response headers.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from app.tasks.decide import decide, record_decision
from app.tasks.schemas import RouteRequest
from app.cascade.records import ANSWER
from app.errors import ApiError, InvalidField
from app.money.budgets import BudgetExhausted
from app.money.overhead import admit_task, release_admission, router_spend, workflow_of
from app.tasks import intake, runner as service
from app.gateway import models
from app.gateway.chat import END_TURN, MAX_TOKENS, STOP_SEQUENCE, TOOL_USE, ChatAnswer, ChatRequest
from app.gateway.routing import apply_chat_rules, route_text
from app.policy.schema import Policy, TaskType
from app.pricing import Usage
from app.routing import RouteDecision
from app.execution.runtime import Runtime
from app.store import Request

KIND = "gateway"
# How long a chat client is kept waiting for its answer: the official SDKs' own default timeout. Waiting
# out a provider outage is bounded by TIERGATE_SYNC_WAIT_SECONDS, as for /v1/fallback.
CHAT_WAIT_SECONDS = 600
STOP_REASONS = frozenset({END_TURN, MAX_TOKENS, STOP_SEQUENCE, TOOL_USE})
HELD_NOTICE = ("This answer is held for review before it may be used ({reasons}). A reviewer decides at {url}; "
               "the decision and the final text are available from Tiergate's review API.")


class UpstreamFailed(ApiError):
    """No tier produced an answer (every provider call failed after retries and failover)."""

    status, code = 502, "upstream_error"


class StillRunning(ApiError):
    """The answer took longer than a chat client waits; it is still recorded in the ledger. An SDK must
    not retry it: the retry would pay for the same answer again."""

    status, code = 504, "timeout"


@dataclass(frozen=True)
class RouteHints:
    """Tiergate's own request fields, sent by a drop-in client as ``X-Tiergate-*`` headers."""

    task_type: str | None = None
    risk: str = "low"
    external: bool = False
    mode: str | None = None  # None: /v1/route's default for the text (learned, or rules with a task type)


@dataclass
class StoredCall:
    """A drop-in call decided and stored in the ledger (or the earlier call it repeats), not run yet."""

    request_id: str
    chat: ChatRequest
    payload: dict[str, Any]
    decision: RouteDecision
    policy: Policy
    replay_of: str | None = None  # the earlier call of the same Idempotency-Key: answer from the ledger


def store_call(rt: Runtime, session: Session, policy: Policy, chat: ChatRequest, api_key_id: int,
               hints: RouteHints, idempotency_key: str | None = None) -> StoredCall:
    """Route ``chat`` and store it through the one intake (budgets, Idempotency-Key, ledger row) before
    any model is called. A spent ``refuse`` budget raises ``BudgetExhausted`` here, before a stream starts."""
    choice = models.resolve(chat.model, policy)
    if hints.task_type and hints.task_type not in policy.task_types:
        raise InvalidField(f"task type {hints.task_type!r} (X-Tiergate-Task-Type) is not in the policy", "task_type")
    route_body = RouteRequest(text=route_text(chat), task_type=hints.task_type, risk=hints.risk,
                              external=hints.external, mode=hints.mode, metadata=chat.metadata)
    spend = router_spend(rt.store, api_key_id, chat.metadata, rt.settings)
    decision = apply_chat_rules(decide(rt.routing, rt.llm_routing, route_body, session=session, api_key_id=api_key_id,
                                       spend=spend), chat, choice, policy)
    payload: dict[str, Any] = {}

    def admit(request_id: str) -> dict[str, Any]:
        return admit_task(session, rt.store, policy, decision, request_id, api_key_id, chat.metadata, chat.identity(),
                          rt.settings, max_tokens=chat.max_tokens)

    def build(request_id: str, overhead: dict[str, Any]) -> Request:
        decision_id = record_decision(session, decision, route_body, api_key_id)
        payload.update({
            "text": chat.transcript(), "messages": chat.messages, "risk": hints.risk, "external": hints.external,
            "output_schema": chat.json_schema, "metadata": chat.metadata, "model_name": chat.model,
            "decision": {"id": decision_id, "tier": decision.tier, "model": decision.model,
                         "task_type": decision.task_type, "review_reasons": list(decision.review_reasons), **overhead},
            "chat": {**chat.options(), "pinned": choice.pinned,
                     "gates": chat_gates(chat, policy.task_types.get(decision.task_type))},
        })
        return Request(id=request_id, api_key_id=api_key_id, decision_id=decision_id, task_type=decision.task_type,
                       tier=decision.tier, model=decision.model, exec_mode="stream" if chat.stream else "sync",
                       payload=payload, progress_total=1, request_metadata=chat.metadata,
                       workflow=workflow_of(chat.metadata))

    ticket = intake.Ticket(kind=KIND, api_key_id=api_key_id, exec_mode="stream" if chat.stream else "sync",
                           body=chat.identity(), idempotency_key=idempotency_key, admit=admit, build=build,
                           release=lambda request_id: release_admission(rt.store, request_id, api_key_id,
                                                                        chat.metadata))
    accepted = intake.accept(rt, session, ticket)
    return StoredCall(accepted.request_id, chat, payload, decision, policy, replay_of=accepted.replay_of)


def run_gated(rt: Runtime, call: StoredCall, arrived: float) -> ChatAnswer:
    """The cascade for a stored call in this process, through the service functions of /v1/fallback;
    a repeated Idempotency-Key gets the first call's answer from the ledger, with no model call."""
    if call.replay_of is not None:
        stored = intake.wait_for_answer(rt, call.replay_of, arrived + CHAT_WAIT_SECONDS)
        if stored is None:
            raise StillRunning(f"the first request with this Idempotency-Key ({call.replay_of}) has no answer "
                               f"after {CHAT_WAIT_SECONDS} s; it is still recorded in the ledger")
        answer = _answer(call.replay_of, stored, call.policy)
        answer.headers["idempotent-replayed"] = "true"
        return answer
    provider_bound = arrived + rt.settings.sync_wait_seconds - service.SYNC_WAIT_MARGIN_SECONDS
    task = service.start_sync(rt, call.request_id, call.payload, wait_until=provider_bound)
    answer = task.wait(arrived + CHAT_WAIT_SECONDS - time.monotonic())
    if answer is None:
        raise StillRunning(f"no answer within {CHAT_WAIT_SECONDS} s; request {call.request_id} is still running "
                           "and will be recorded in the ledger")
    return _answer(call.request_id, answer, call.policy)


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


def _answer(request_id: str, stored: dict[str, Any], policy: Policy) -> ChatAnswer:
    """The client's answer from the stored ``/v1/fallback``-shaped answer and the attempt it kept."""
    kept = next((attempt for attempt in stored.get("attempts") or [] if attempt["purpose"] == ANSWER), None)
    if stored["status"] == "failed" and stored.get("stop_rule") == "budget":
        raise BudgetExhausted(f"{stored.get('error')} (request {request_id})", "budget")
    if stored["status"] == "failed" or kept is None:
        raise UpstreamFailed(f"no model could answer: {stored.get('error') or 'every tier failed'} "
                             f"(request {request_id})")
    output = stored["output"]
    text = output if isinstance(output, str) or output is None else json.dumps(output, ensure_ascii=False)
    content = kept.get("content") or [{"type": "text", "text": text or ""}]
    stop_reason = kept.get("stop_reason") if kept.get("stop_reason") in STOP_REASONS else END_TURN
    headers = {"x-tiergate-request-id": request_id, "x-tiergate-decision-id": stored.get("decision_id") or "",
               "x-tiergate-tier": kept["tier"], "x-tiergate-model": kept["model"],
               "x-tiergate-cost-usd": f"{stored['cost_usd']:.6f}",
               "x-tiergate-baseline-cost-usd": f"{stored['baseline_cost_usd']:.6f}"}
    if stored["needs_review"]:
        headers["x-tiergate-review"] = stored.get("review_url") or stored.get("review_id") or "pending"
        if stored.get("review_id"):
            headers["x-tiergate-review-id"] = stored["review_id"]
        treatment = policy.gateway.held_answer_by_task_type.get(stored["task_type"], policy.gateway.held_answer)
        if treatment == "hold":
            reasons = ", ".join(stored.get("review_reasons") or []) or "policy"
            content = [{"type": "text", "text": HELD_NOTICE.format(reasons=reasons, url=headers["x-tiergate-review"])}]
            stop_reason = END_TURN
    usage = Usage(input_tokens=kept["input_tokens"], output_tokens=kept["output_tokens"],
                  cache_write_tokens=kept["cache_write_tokens"], cache_read_tokens=kept["cache_read_tokens"],
                  cache_write_1h_tokens=kept.get("cache_write_1h_tokens", 0))
    return ChatAnswer(id=request_id, model=kept["model"], content=content, stop_reason=stop_reason, usage=usage,
                      headers=headers)
