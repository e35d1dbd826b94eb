"""POST /v1/fallback: run a task through the cascade, wait up to the sync bound, else answer 202.

The request is stored and queued before anything else happens, so a web process that dies while
waiting loses nothing: the worker finishes the job and the callback (or ``GET /v1/jobs/<id>``)
carries the answer.
"""
from __future__ import annotations

from typing import Any, Literal

from flask import current_app, g, jsonify, request
from pydantic import Field, field_validator

from app import idempotency
from app.api import bp
from app.api.jobs import queued_response, replayed_response
from app.api.body import read_body
from app.api.route import decide, record_decision
from app.api.schemas import TaskInput
from app.auth import require_scope
from app.callbacks import check_target
from app.errors import InvalidField
from app.fallback import service
from app.openapi import document
from app.routing_state import current_policy
from app.overhead import admit_task
from app.store import Request, db, get_store, new_id

LIST_FIELDS = frozenset({"labels", "knowledge"})
MAX_SNIPPETS = 50


class FallbackRequest(TaskInput):
    """Contract fields (PRODUCT.md section 11) plus optional cascade inputs.

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
        import jsonschema  # lazy: most requests carry no schema

        try:
            jsonschema.validators.validator_for(schema).check_schema(schema)
        except jsonschema.exceptions.SchemaError as exc:
            raise ValueError(f"not a valid JSON Schema: {exc.message}") from None
        return schema


@bp.post("/fallback")
@require_scope("fallback")
def fallback():
    app = current_app._get_current_object()
    settings = app.config["TIERGATE"]
    body = FallbackRequest.model_validate(read_body(list_fields=LIST_FIELDS))
    if body.task_type and body.task_type not in current_policy().task_types:
        raise InvalidField(f"task type {body.task_type!r} is not in the policy", "task_type")
    if body.callback_url:
        check_target(body.callback_url, settings.allowed_callback_hosts)
    api_key_id = g.api_key.id
    request_id = new_id("req")
    header = request.headers.get(idempotency.HEADER, "").strip()
    claim = None
    if header:
        redis = app.extensions["job_queue"].redis
        claim = idempotency.claim(redis, api_key_id, header, idempotency.body_hash(body.model_dump(mode="json")),
                                  request_id, settings.idempotency_ttl_seconds)
        if not claim.first:
            return replayed_response(claim.request_id)
    try:
        _store(body, request_id, api_key_id, claim)
    except BaseException:
        if claim is not None:
            idempotency.release(app.extensions["job_queue"].redis, api_key_id, header)
        raise
    if body.exec == "async":
        service.claim_delivery(app, request_id, "callback")
        service.enqueue(app, request_id)
        return queued_response(request_id)
    service.enqueue(app, request_id)
    answer = service.wait_for_answer(app, request_id, settings.sync_wait_seconds)
    return jsonify(answer) if answer is not None else queued_response(request_id)


def _store(body: FallbackRequest, request_id: str, api_key_id: int, claim) -> None:
    decision = decide(body)
    overhead = admit_task(db(), get_store(), current_policy(), decision, request_id, api_key_id, body.metadata)
    decision_id = record_decision(decision, body)
    session = db()
    payload = body.model_dump(mode="json")
    payload["decision"] = {"id": decision_id, "tier": decision.tier, "model": decision.model,
                           "task_type": decision.task_type, "review_reasons": list(decision.review_reasons),
                           **overhead}
    row = Request(id=request_id, kind="fallback", api_key_id=api_key_id, decision_id=decision_id,
                  task_type=decision.task_type, tier=decision.tier, model=decision.model, status="queued",
                  exec_mode=body.exec, payload=payload, callback_url=body.callback_url, progress_total=1,
                  request_metadata=body.metadata, workflow=str(body.metadata.get("workflow") or "")[:200] or None)
    if claim is not None:
        row.idempotency_key, row.idempotency_hash = claim.key, claim.body_hash
    session.add(row)
    session.commit()


document("/v1/fallback", "post", "Run a task through the cascade: tier, gates, retry, escalation with a hint, review",
         scope="fallback", request_model=FallbackRequest,
         responses={"200": "the answer with every attempt and its cost", "202": "queued: poll status_url or wait for "
                    "the callback", "409": "Idempotency-Key reused with a different body", "422": "invalid field"})
