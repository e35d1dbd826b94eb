"""The sweeper: the database's net under Redis, run every few seconds by each worker process.

- A queued request whose job the queue no longer holds (Redis restarted, was flushed, or was down when
  the request was stored) is queued again. RQ's word that a job waits is not taken: the job must be in
  the queue list, the scheduled or deferred registry, or ``started`` by a worker that still beats
  (``worker_alive``). A worker killed after RQ moved a job but before the job claimed its row leaves it
  in RQ's intermediate list (status still ``queued``) or ``started`` by a dead worker; RQ's own
  maintenance would free it only after minutes.
- A running request whose owner stopped renewing its lease (a killed worker or web process) is queued
  again; the worker that claims it records the call the dead process had in flight (``app.execution.lifecycle``).
- A callback whose delivery is due (the writer died before sending it, or a retry's time has come) is
  sent (``app.execution.outbox``).
- Jobs RQ scheduled for later (retries with an interval, batch polls, the monthly sample, shadow
  comparisons) are put on the queue when due, by RQ's own scheduler step run in this process (RQ's
  scheduler process cost a forked process per worker).
- Which kinds of request exist and how each is resumed is the kinds registry's (``app.execution.kinds``).

Only one process sweeps the queue at a time (a Redis lock); callbacks need no lock, their delivery
claims each row in the database.
"""
from __future__ import annotations

import functools
import logging
import threading
import time
from typing import Callable

from redis import RedisError
from rq import Worker
from rq.job import Job, JobStatus
from rq.registry import DeferredJobRegistry, ScheduledJobRegistry
from rq.scheduler import RQScheduler
from rq.utils import now

from app.execution import kinds, lifecycle, outbox
from app.execution.runtime import Runtime
from app.store import Request

log = logging.getLogger(__name__)

SWEEP_INTERVAL_SECONDS = 5.0
LOCK_KEY = "tiergate:sweeper"
LOCK_SECONDS = 30
# A worker beats every WORKER_BEAT_SECONDS (``workers.worker``); one silent for WORKER_SILENT_SECONDS is dead.
WORKER_BEAT_SECONDS = 10
WORKER_SILENT_SECONDS = 30


# Periodic duties of higher layers (e.g. the review digests), run by the sweeping process under its lock.
_DUTIES: dict[str, Callable[[Runtime], int]] = {}


def every_sweep(name: str, duty: Callable[[Runtime], int]) -> None:
    """Run ``duty(rt)`` on every sweep (one process at a time); its count shows under ``name``."""
    _DUTIES[name] = duty


def sweep(rt: Runtime) -> dict[str, int]:
    """One pass; returns what it did, for logs and tests."""
    done = {"requeued": 0, "rescued": 0, "callbacks": 0, "scheduled": 0, **{name: 0 for name in _DUTIES}}
    done["callbacks"] = outbox.deliver_due(rt.store, rt.settings)
    try:
        if not rt.redis.set(LOCK_KEY, lifecycle.process_owner(), nx=True, ex=LOCK_SECONDS):
            return done
    except RedisError:
        return done  # nothing can be queued while Redis is away; the rows wait in the database
    try:
        _requeue_overdue(rt, done)
        done["scheduled"] = _enqueue_scheduled(rt)
        for name, duty in _DUTIES.items():
            done[name] = duty(rt)
    finally:
        try:
            rt.redis.delete(LOCK_KEY)
        except RedisError:
            pass
    return done


def _requeue_overdue(rt: Runtime, done: dict[str, int]) -> None:
    with rt.store.session() as session:
        overdue = lifecycle.overdue(session, kinds.registered())
    # The queue list, read once a sweep (one LRANGE, not an LPOS per row through a long backlog).
    queued = functools.cache(lambda: set(rt.job_queue.queue.get_job_ids()))
    for request_id, kind, status in overdue:
        job = _job(rt, request_id)
        if status == lifecycle.QUEUED and job is not None and _waiting(rt, job, queued):
            with rt.store.session() as session:
                lifecycle.checked(session, request_id)  # the queue holds it: a long queue, not a lost job
            continue
        if job is not None:
            job.delete()  # a dead worker's job: out of RQ's registries before it is queued afresh
        kinds.resume(rt, kind, request_id)
        with rt.store.session() as session:
            lifecycle.checked(session, request_id)
        done["rescued" if status == lifecycle.RUNNING else "requeued"] += 1
        log.warning("request %s (%s) %s", request_id, kind,
                    "rescued from a process that stopped" if status == lifecycle.RUNNING else "queued again")


def _job(rt: Runtime, request_id: str) -> Job | None:
    try:
        return Job.fetch(request_id, connection=rt.redis)
    except Exception:  # NoSuchJobError, or a job Redis half-lost
        return None


def _waiting(rt: Runtime, job: Job, queued: Callable[[], set[str]]) -> bool:
    """Will RQ run this job? Only if a queue or registry really holds it, or a live worker runs it."""
    queue = rt.job_queue.queue
    status = job.get_status(refresh=False)
    if status == JobStatus.QUEUED:  # in the queue list, not in the intermediate list of a worker killed
        return job.id in queued()
    if status == JobStatus.SCHEDULED:
        return job.id in ScheduledJobRegistry(queue=queue)
    if status == JobStatus.DEFERRED:
        return job.id in DeferredJobRegistry(queue=queue)
    if status == JobStatus.STARTED:
        return worker_alive(rt.redis, job.worker_name)
    return False


def worker_alive(redis, name: str | None) -> bool:
    """Is the RQ worker ``name`` still there? Its key outlives a SIGKILL by minutes, its beat does not."""
    if not name:
        return False
    worker = Worker.find_by_key(Worker.redis_worker_namespace_prefix + name, connection=redis)
    return (worker is not None and worker.last_heartbeat is not None
            and (now() - worker.last_heartbeat).total_seconds() < WORKER_SILENT_SECONDS)


def _enqueue_scheduled(rt: Runtime) -> int:
    """Queue the scheduled jobs that are due, with RQ's own scheduler step (run here, in-process, under
    the sweeper's lock, instead of RQ's scheduler process: that cost a forked process per worker)."""
    queue = rt.job_queue.queue
    due = len(ScheduledJobRegistry(queue=queue).get_jobs_to_schedule(int(time.time())))
    if due:
        scheduler = RQScheduler([queue.name], connection=rt.redis)
        scheduler.prepare_registries([queue.name])
        scheduler.enqueue_scheduled_jobs()
    return due


def sweep_forever(rt: Runtime, interval: float = SWEEP_INTERVAL_SECONDS) -> threading.Thread:
    """Sweep every ``interval`` seconds in the background, for the life of the process."""

    def _loop():
        while True:
            try:
                sweep(rt)
            except Exception as exc:  # the database or Redis is down: try again next time
                log.warning("sweep failed: %s: %s", type(exc).__name__, exc)
            time.sleep(interval)

    thread = threading.Thread(target=_loop, daemon=True, name="tiergate-sweeper")
    thread.start()
    return thread
