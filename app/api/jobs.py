"""GET /v1/jobs/<job_id>: status, progress and result of a queued fallback or classify request.

The job id is the request id, so the answer comes from the ledger row (durable) and the progress from
RQ's ``job.meta`` while the job runs. A key sees its own jobs; an admin key sees all.
"""
from __future__ import annotations

from flask import jsonify, url_for
from redis import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job

from app.execution import outbox
from app.api import bp
from app.api.auth import authenticate
from app.errors import NotFound
from app.web.openapi import document
from app.money.overhead import with_overhead
from app.store import Request
from app.tasks import intake
from app.web.context import db, runtime

JOB_SCOPES = {"fallback": "fallback", "classify": "classify"}


@bp.get("/jobs/<job_id>")
def get_job(job_id: str):
    row = db().get(Request, job_id)
    key = authenticate(JOB_SCOPES.get(row.kind, "fallback") if row is not None else "fallback")
    if row is None or (row.api_key_id not in (None, key.id) and "admin" not in key.scope_set):
        raise NotFound(f"no job {job_id}", "job_id")
    progress = {"done": row.progress_done, "total": row.progress_total}
    if row.result is None:
        progress = _live_progress(job_id) or progress
    result = row.result if row.status in ("done", "needs_review", "failed") or row.result else None
    if result is not None:  # with the router calls and re-runs made for it since
        result = with_overhead(db(), row.id, result, (row.payload or {}).get("decision"))
    body = {"job_id": row.id, "request_id": row.id, "kind": row.kind, "status": row.status, "progress": progress,
            "result": result}
    if row.error and row.result is None:
        body["error"] = row.error
    if row.callback_url:
        body["callbacks"] = outbox.summary(db(), row.id)
    return jsonify(body)


def _live_progress(job_id: str) -> dict | None:
    try:
        job = Job.fetch(job_id, connection=runtime().redis)
    except (NoSuchJobError, RedisError):  # Redis is the fast path; the row's progress stands without it
        return None
    return job.meta.get("progress")


document("/v1/jobs/{job_id}", "get", "Status, progress and result of a queued request (job id = request id)",
         scope="fallback", responses={"200": "the job", "404": "no such job (or not yours)"},
         parameters=[{"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}])


def queued_response(request_id: str):
    """The contract's 202 for queued work: ``{job_id, status: "queued", status_url}``."""
    response = jsonify({"job_id": request_id, "request_id": request_id, "status": "queued",
                        "status_url": url_for("api.get_job", job_id=request_id, _external=True)})
    response.status_code = 202
    return response


def replayed_response(request_id: str, until: float = 0.0):
    """The first request's answer for a repeated Idempotency-Key, without another model call.

    A sync repeat of a request still running waits for its answer up to ``until`` (``time.monotonic()``),
    as the drop-in endpoints do (``intake.wait_for_answer``); 202 if it is not there by then."""
    answer = intake.wait_for_answer(runtime(), request_id, until)
    if answer is None:
        return queued_response(request_id)
    response = jsonify(answer)
    response.headers["Idempotent-Replayed"] = "true"
    return response
