"""``python -m tests.support.stalling_worker REDIS_URL QUEUE STAGE``: an RQ worker that takes one job and
then hangs, to be SIGKILLed at the worst moment, before the job claims its row.

- ``intermediate``: RQ moved the job from the queue list to its intermediate list (its status still
  ``queued``, though no queue holds it);
- ``started``: RQ also marked it ``started`` by this worker and put it in the started registry.

RQ's own steps (``dequeue``, ``prepare_execution``, ``prepare_job_execution``), only the job's run left out.
"""
from __future__ import annotations

import sys
import time

from redis import Redis
from rq import Queue, SimpleWorker


class StallingWorker(SimpleWorker):
    stage = "started"

    def execute_job(self, job, queue):
        if self.stage == "started":
            self.prepare_execution(job)
            self.prepare_job_execution(job, remove_from_intermediate_queue=True)
        print(f"holding {job.id} ({self.stage})", flush=True)
        time.sleep(3600)


if __name__ == "__main__":
    url, queue_name, StallingWorker.stage = sys.argv[1:4]
    connection = Redis.from_url(url)
    StallingWorker([Queue(queue_name, connection=connection)], connection=connection).work(burst=True)
