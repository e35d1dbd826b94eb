"""RQ jobs of /v1/classify. The job id is the request id; progress lives in ``job.meta`` and the row.

``run_classify_job`` labels the chunks not done yet (so a retried job resumes where a killed one
stopped). The Message Batches path is three jobs: ``submit_batch_job`` sends the list as one batch,
``poll_batch_job`` is scheduled again and again until the provider says the batch ended, then collects
the answers and finishes the list (follow-up calls for failed or unsure items run at the normal price).
"""
from __future__ import annotations

from rq import get_current_job

from workers.context import job_app


def _progress(done: int, total: int) -> None:
    job = get_current_job()
    if job is not None:
        job.meta["progress"] = {"done": done, "total": total}
        job.save_meta()


def run_classify_job(request_id: str) -> dict:
    """Label the list ``request_id``; returns the final answer (also stored on the request row)."""
    from app.classify import service

    from app.execution.runtime import runtime_of

    app = job_app()
    with app.app_context():
        if not service.claim(app, request_id):  # finished, or running in a live process
            return service.stored_result(app, request_id) or {}
        with runtime_of(app).leases.hold(request_id):
            try:
                service.run(app, request_id, progress=_progress)
            except Exception as exc:
                job = get_current_job()
                service.mark_failed(app, request_id, exc, final=not (job and job.retries_left))
                raise  # RQ records the failure and retries; the row says why meanwhile
            return service.finish(app, request_id)


def submit_batch_job(request_id: str) -> str:
    """Send the list through the provider's Message Batches API and schedule the first poll."""
    from app.classify import batches

    app = job_app()
    with app.app_context():
        return batches.submit(app, request_id)


def poll_batch_job(request_id: str) -> str:
    """Collect a batch that ended, or schedule the next look."""
    from app.classify import batches

    app = job_app()
    with app.app_context():
        return batches.poll(app, request_id, progress=_progress)
