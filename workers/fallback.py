"""RQ job of /v1/fallback. The job id is the request id.

Safe to run twice (RQ's retry, the sweeper's rescue of a request whose process died): the request is
claimed in the database first, and one that is answered or running elsewhere is not run again.
"""
from __future__ import annotations

from typing import Any

from rq import get_current_job

from workers.context import worker_runtime


def run_fallback_job(request_id: str) -> dict[str, Any] | None:
    """Run the cascade for ``request_id`` and store the answer; returns the contract's answer object."""
    from app.tasks import runner as service

    job = get_current_job()
    return service.run_job(worker_runtime(), request_id, final_try=not (job and job.retries_left))
