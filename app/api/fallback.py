"""POST /v1/fallback: run a task through the cascade, wait up to the sync bound, else answer 202.

The request is stored before anything else happens. A sync request then runs right here, in a
greenlet of this web process (no queue round trip); if this process dies, the request's lease runs out
and a worker finishes it, and the callback (or ``GET /v1/jobs/<id>``) carries the answer. An async
request is queued for the workers.
"""
from __future__ import annotations

import time
from typing import Any, Literal

from flask import g, jsonify, request
from pydantic import Field, field_validator

from app.execution import idempotency
from app.api import bp
from app.api.jobs import queued_response, replayed_response
from app.api.body import read_body
from app.api.route import decide
from app.tasks.decide import record_decision
from app.tasks.schemas import TaskInput
from app.api.auth import require_scope
from app.execution.callbacks import check_target
from app.errors import InvalidField
from app.gates.schema import schema_problem
from app.tasks import intake, runner as service
from app.web.openapi import document
from app.money.overhead import admit_task, release_admission, workflow_of
from app.store import Request
from app.web.context import arrival, current_policy, db, runtime

KIND = "fallback"
LIST_FIELDS = frozenset({"labels", "knowledge"})
MAX_SNIPPETS = 50


class FallbackRequest(TaskInput):
    """The contract's fields plus optional cascade inputs.

    ``labels`` feed the label gate; ``brand_rules`` and ``knowledge`` join the task prompt in the cached
    system prefix.
    """

    output_schema: dict[str, Any] | None = None
    max_cost_usd: float | None = Field(default=None, gt=0)
    exec: Literal["sync", "async"] = "sync"
    callback_url: str | None = Field(default=None, max_length=2000)
    labels: list[str] | None = None
    brand_rules: str | None = Field(default=None, max_length=50_000)
    knowledge: list[str] = Field(default_factory=list, max_length=MAX_SNIPPETS)
    confidence_threshold: float | None = Field(default=None, ge=0, le=1)

    @field_validator("exec", mode="before")
    @classmethod
    def _lower_exec(cls, value):
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("callback_url", "brand_rules", "max_cost_usd", "output_schema", "confidence_threshold",
                     mode="before")
    @classmethod
    def _blank_is_absent(cls, value):
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("knowledge", mode="before")
    @classmethod
    def _one_snippet(cls, value):
        return [value] if isinstance(value, str) else value

    @field_validator("output_schema")
    @classmethod
    def _schema_is_valid(cls, schema):
        if schema is None:
            return None
        problem = schema_problem(schema)  # an unresolvable $ref too: refused before any paid call
        if problem:
            raise ValueError(problem)
        return schema


@bp.post("/fallback")
@require_scope("fallback")
def fallback():
    rt = runtime()
    settings = rt.settings
    body = FallbackRequest.model_validate(read_body(list_fields=LIST_FIELDS))
    if body.task_type and body.task_type not in current_policy().task_types:
        raise InvalidField(f"task type {body.task_type!r} is not in the policy", "task_type")
    if body.callback_url:
        check_target(body.callback_url, settings.allowed_callback_hosts)
    accepted = intake.accept(rt, db(), _ticket(rt, body, g.api_key.id))
    # The bound counts from the request's arrival, not from when a thread was free to take it.
    deadline = arrival() + settings.sync_wait_seconds
    if accepted.replay_of is not None:  # a sync repeat waits for the first copy's answer, up to the bound
        return replayed_response(accepted.replay_of, until=deadline if body.exec == "sync" else 0.0)
    if body.exec == "async":
        intake.enqueue(rt, KIND, accepted.request_id)
        return queued_response(accepted.request_id)
    task = service.start_sync(rt, accepted.request_id, accepted.row.payload,
                              wait_until=deadline - service.SYNC_WAIT_MARGIN_SECONDS)
    answer = task.wait(deadline - time.monotonic())
    return jsonify(answer) if answer is not None else queued_response(accepted.request_id)


def _ticket(rt, body: FallbackRequest, api_key_id: int) -> intake.Ticket:
    """The intake's view of a ``/v1/fallback`` request: decided now, admitted with its decision."""
    decision = decide(body)
    session, policy = db(), current_policy()
    sent = body.model_dump(mode="json")  # once: the admission's estimate, the stored payload, the idempotency hash

    def admit(request_id: str) -> dict:
        return admit_task(session, rt.store, policy, decision, request_id, api_key_id, body.metadata, sent,
                          rt.settings)

    def build(request_id: str, overhead: dict) -> Request:
        decision_id = record_decision(session, decision, body, api_key_id)
        payload = dict(sent)
        payload["decision"] = {"id": decision_id, "tier": decision.tier, "model": decision.model,
                               "task_type": decision.task_type, "review_reasons": list(decision.review_reasons),
                               **overhead}
        return Request(id=request_id, api_key_id=api_key_id, decision_id=decision_id, task_type=decision.task_type,
                       tier=decision.tier, model=decision.model, exec_mode=body.exec, payload=payload,
                       callback_url=body.callback_url, progress_total=1, request_metadata=body.metadata,
                       workflow=workflow_of(body.metadata))

    return intake.Ticket(kind=KIND, api_key_id=api_key_id, exec_mode=body.exec, body=sent,
                         idempotency_key=request.headers.get(idempotency.HEADER), admit=admit, build=build,
                         release=lambda request_id: release_admission(rt.store, request_id, api_key_id, body.metadata,
                                                                               rt.settings))


document("/v1/fallback", "post", "Run a task through the cascade: tier, gates, retry, escalation with a hint, review",
         scope="fallback", request_model=FallbackRequest,
         responses={"200": "the answer with every attempt and its cost", "202": "queued: poll status_url or wait for "
                    "the callback", "409": "Idempotency-Key reused with a different body", "422": "invalid field"})
