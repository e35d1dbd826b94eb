"""RQ jobs of /v1/classify. The job id is the request id; progress lives in ``job.meta`` and the row.

``run_classify_job`` labels the chunks not done yet (so a retried job resumes where a killed one
stopped). The Message Batches path is three jobs: ``submit_batch_job`` sends the list as one batch,
``poll_batch_job`` is scheduled again and again until the provider says the batch ended, then collects
the answers and finishes the list (follow-up calls for failed or unsure items run at the normal price).
"""
from __future__ import annotations

from rq import get_current_job

from workers.context import worker_runtime


def _progress(done: int, total: int) -> None:
    job = get_current_job()
    if job is not None:
        job.meta["progress"] = {"done": done, "total": total}
        job.save_meta()


def run_classify_job(request_id: str) -> dict:
    """Label the list ``request_id``; returns the final answer (also stored on the request row)."""
    from app.classify import service

    rt = worker_runtime()
    if not service.claim(rt, request_id):  # finished, or running in a live process
        return service.stored_result(rt, request_id) or {}
    with rt.leases.hold(request_id):
        try:
            service.run(rt, request_id, progress=_progress)
        except Exception as exc:
            job = get_current_job()
            service.mark_failed(rt, request_id, exc, final=not (job and job.retries_left))
            raise  # RQ records the failure and retries; the row says why meanwhile
        return service.finish(rt, request_id)


def submit_batch_job(request_id: str) -> str:
    """Send the list through the provider's Message Batches API and schedule the first poll."""
    from app.classify import batches

    rt = worker_runtime()
    return batches.submit(rt, request_id)


def poll_batch_job(request_id: str) -> str:
    """Collect a batch that ended, or schedule the next look."""
    from app.classify import batches

    rt = worker_runtime()
    return batches.poll(rt, request_id, progress=_progress)
