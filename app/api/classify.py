"""POST /v1/classify: label a list. Short lists answer within the call; long ones run as a job.

The request is stored before any model is called. A short list runs in the web process up to the sync
bound; what is not done by then continues in a worker and the caller gets 202 (Zapier gives up after
about 30 s). A long list, ``exec: async`` or ``batch: true`` is queued at once.
"""
from __future__ import annotations

from flask import g, jsonify, request

from app.execution import idempotency
from app.api import bp
from app.api.jobs import queued_response, replayed_response
from app.api.body import read_body
from app.api.auth import require_scope
from app.execution.callbacks import check_target
from app.classify import service
from app.classify.request import ClassifyRequest
from app.errors import InvalidField, PayloadTooLarge
from app.web.openapi import document
from app.money.budgets import admit_list
from app.money.overhead import release_admission
from app.web.context import arrival, current_policy, db, runtime
from app.tasks import intake

KIND = "classify"
LIST_FIELDS = frozenset({"items", "labels"})
BATCH_JOB = "workers.classify.submit_batch_job"


@bp.post("/classify")
@require_scope("classify")
def classify():
    rt = runtime()
    settings = rt.settings
    body = ClassifyRequest.model_validate(read_body(list_fields=LIST_FIELDS))
    if len(body.items) > settings.max_items:
        raise PayloadTooLarge(f"{len(body.items)} items; at most {settings.max_items} per request", "items")
    policy = current_policy()
    if body.task_type not in policy.task_types:
        raise InvalidField(f"task type {body.task_type!r} is not in the policy", "task_type")
    if body.callback_url:
        check_target(body.callback_url, settings.allowed_callback_hosts)
    background = body.exec == "async" or body.batch or len(body.items) > settings.classify_sync_max_items

    accepted = intake.accept(rt, db(), _ticket(rt, body, policy, settings.classify_chunk_size, background))
    deadline = arrival() + settings.sync_wait_seconds
    if accepted.replay_of is not None:  # a sync repeat waits for the first copy's answer, up to the bound
        return replayed_response(accepted.replay_of, until=0.0 if background else deadline)
    request_id = accepted.request_id

    if background:
        if body.batch:
            service.enqueue(rt, request_id, BATCH_JOB)
        else:
            intake.enqueue(rt, KIND, request_id)
        return queued_response(request_id)
    try:
        with rt.leases.hold(request_id):
            finished = service.run(rt, request_id, deadline=deadline, notify=False)
    except Exception:
        service.hand_to_workers(rt, request_id)  # a worker retries it from the chunks already done
        raise
    if finished:
        return jsonify(service.stored_result(rt, request_id))
    service.hand_to_workers(rt, request_id)  # the rest in a worker; the callback carries the answer
    return queued_response(request_id)


def _ticket(rt, body: ClassifyRequest, policy, chunk_size: int, background: bool) -> intake.Ticket:
    """The intake's view of a list: its first chunk admitted on the budgets, the row built for the list."""
    api_key_id = g.api_key.id
    return intake.Ticket(
        kind=KIND, api_key_id=api_key_id, exec_mode="async" if background else "sync",
        body=body.model_dump(mode="json"), idempotency_key=request.headers.get(idempotency.HEADER),
        admit=lambda request_id: admit_list(rt.store, policy, request_id, body, api_key_id, chunk_size,
                                               rt.settings),
        build=lambda request_id, _admission: service.create_request(
            db(), body, policy=policy, api_key_id=api_key_id, chunk_size=chunk_size,
            exec_mode="async" if background else "sync", request_id=request_id),
        release=lambda request_id: release_admission(rt.store, request_id, api_key_id, body.metadata,
                                                     rt.settings))


document("/v1/classify", "post", "Label a list of items with caller-given labels, chunk by chunk on the cheapest tier",
         scope="classify", request_model=ClassifyRequest,
         responses={"200": "one result per item, in input order, with counts and cost",
                    "202": "queued as a job: poll status_url or wait for the callback",
                    "409": "Idempotency-Key reused with a different body", "413": "too many items",
                    "422": "invalid field"})
