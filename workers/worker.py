"""The RQ worker class: many jobs at once, each in a greenlet, in one process.

A job of ours spends nearly all its time waiting on a model (seconds per call), so one job at a time per
process (RQ's ``SimpleWorker``) left 2 cores idle behind a queue; forking a work horse per job cost
25–35 ms and threw away the app built at start. This worker takes the next job as soon as a slot of its
greenlet pool is free: ``JOB_CONCURRENCY`` calls in flight per process for the memory of one.

What a fork would buy, isolation from a job that crashes the interpreter, the request's lease covers:
a job whose worker dies is running again within a minute (``app.execution.lifecycle``, ``app.execution.sweeper``).
Needs gevent's monkey patching, done first thing by ``python -m workers``.
"""
from __future__ import annotations

import gevent
from gevent.pool import Pool
from redis import RedisError
from rq import SimpleWorker
from rq.timeouts import BaseDeathPenalty
from rq.worker import WorkerStatus

from app.execution.sweeper import WORKER_BEAT_SECONDS
from workers.context import worker_runtime

# Jobs in flight per worker process: each is a greenlet waiting on a model, Redis or the database.
JOB_CONCURRENCY = 500
# How often a worker cleans RQ's registries (RQ's default is 10 minutes).
MAINTENANCE_INTERVAL_SECONDS = 60
# On a warm shutdown, how long running jobs get to finish before the process exits anyway (the lease
# of what is left runs out and another worker takes it).
STOP_GRACE_SECONDS = 20


class GreenletDeathPenalty(BaseDeathPenalty):
    """The job timeout as a ``gevent.Timeout`` in the job's own greenlet (SIGALRM has one per process)."""

    def setup_death_penalty(self):
        self._timer = gevent.Timeout(self._timeout if self._timeout and self._timeout > 0 else None,
                                     self._exception(f"Task exceeded maximum timeout value ({self._timeout} seconds)"))
        self._timer.start()

    def cancel_death_penalty(self):
        self._timer.close()


class TiergateWorker(SimpleWorker):
    death_penalty_class = GreenletDeathPenalty
    log_job_description = False  # job arguments are ids, but keep logs free of whatever a job carries

    def __init__(self, *args, pool: Pool | None = None, **kwargs):
        kwargs.setdefault("maintenance_interval", MAINTENANCE_INTERVAL_SECONDS)
        super().__init__(*args, **kwargs)
        self.pool = pool if pool is not None else Pool(JOB_CONCURRENCY)
        worker_runtime()

    def work(self, *args, **kwargs):
        beat = gevent.spawn(self._beat)
        try:
            return super().work(*args, **kwargs)
        finally:
            beat.kill()

    def _beat(self) -> None:
        """Tell the sweeper this worker lives (``app.execution.sweeper.worker_alive``), also while a full
        pool or RQ's blocking dequeue (minutes between RQ's own beats) holds the work loop."""
        while True:
            gevent.sleep(WORKER_BEAT_SECONDS)
            try:
                self.heartbeat()
            except RedisError:  # Redis away: the work loop notices and restarts
                pass

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
        self.pool.wait_available()  # take a job only when a slot is free
        return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)

    def execute_job(self, job, queue):
        execution = self.prepare_execution(job)
        self.pool.spawn(self._perform, job, queue, execution)

    def _perform(self, job, queue, execution) -> None:
        try:
            self.perform_job(job, queue, execution)
        finally:
            if self.pool.free_count() >= self.pool.size - 1:  # the last one running: idle now
                self.set_state(WorkerStatus.IDLE)

    def teardown(self):
        self.pool.join(timeout=STOP_GRACE_SECONDS)
        super().teardown()
