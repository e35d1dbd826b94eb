"""RQ job of /v1/fallback. The job id is the request id; progress lives in ``job.meta``.

The job is safe to run twice (RQ's retry, or the re-run of a job abandoned by a killed worker): a
request that already has its answer is not run again, so no model is paid twice for a finished request.
"""
from __future__ import annotations

from typing import Any

from rq import get_current_job

from workers.context import job_app


def _progress(done: int, total: int) -> None:
    job = get_current_job()
    if job is not None:
        job.meta["progress"] = {"done": done, "total": total}
        job.save_meta()


def run_fallback_job(request_id: str) -> dict[str, Any]:
    """Run the cascade for ``request_id`` and store the answer; returns the contract's answer object."""
    from app.fallback import service

    app = job_app()
    with app.app_context():
        try:
            return service.run_request(app, request_id, progress=_progress)
        except Exception as exc:
            job = get_current_job()
            service.mark_failed(app, request_id, exc, final=not (job and job.retries_left))
            raise  # RQ records the failure and retries; the row says why meanwhile
