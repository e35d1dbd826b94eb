"""The monthly draw, scheduled with RQ's own ``enqueue_at`` (no separate scheduler process).

Each run draws the month that just ended and schedules the next run; the workers run RQ's scheduler
(``--with-scheduler``), which moves a due job onto the queue.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any


from app.sampling.audit import draw_sample, previous_month
from app.store import utcnow

if TYPE_CHECKING:
    from app.execution.runtime import Runtime

log = logging.getLogger(__name__)

MONTHLY_JOB = "workers.reviews.monthly_sample_job"
MONTHLY_JOB_ID = "tiergate-monthly-sample"
MONTHLY_RUN_HOUR_UTC = 2  # on the 1st of each month, for the month that just ended
MONTHLY_JOB_TIMEOUT_SECONDS = 30 * 60


def next_monthly_run(now: datetime | None = None) -> datetime:
    now = now or utcnow()
    first = now.replace(day=1, hour=MONTHLY_RUN_HOUR_UTC, minute=0, second=0, microsecond=0)
    if first > now:
        return first
    return (first + timedelta(days=32)).replace(day=1)


def ensure_monthly_schedule(rt: Runtime) -> None:
    """Schedule the monthly draw unless it already is; a Redis outage at start only logs a warning."""
    from redis.exceptions import RedisError
    from rq.job import Job

    job_queue = rt.job_queue
    try:
        if not Job.exists(monthly_job_id(next_monthly_run()), connection=job_queue.redis):
            schedule_monthly_sample(job_queue)
    except RedisError as exc:
        log.warning("could not schedule the monthly quality sample: %s", exc)


def monthly_job_id(when: datetime) -> str:
    # One id per run, so a running job re-scheduling the next one never overwrites itself.
    return f"{MONTHLY_JOB_ID}-{when:%Y-%m}"


def schedule_monthly_sample(job_queue) -> datetime:
    """Schedule the next monthly draw (idempotent: the run's id is fixed, scheduling it again replaces it)."""
    when = next_monthly_run()
    job_queue.queue.enqueue_at(when, MONTHLY_JOB, job_id=monthly_job_id(when), job_timeout=MONTHLY_JOB_TIMEOUT_SECONDS)
    return when


def run_monthly_sample(rt: Runtime) -> dict[str, Any]:
    """Draw last month's sample, then schedule the next run (the job lives in workers.reviews)."""
    try:
        with rt.store.session() as session:
            result = draw_sample(session, previous_month())
    finally:
        schedule_monthly_sample(rt.job_queue)
    return {"month": result.month, "drawn": result.drawn, "already_drawn": result.already_drawn}
