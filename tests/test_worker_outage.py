"""Issue 25 item 3: a worker process outlives a Redis outage while it is busy.

RQ's ``Worker`` constructor talks to Redis; built outside the restart loop's ``try``, the first
restart during an outage killed the process (under a plain Procfile runner, for good). The work loop
stops when a job slot frees while Redis is away (RQ marks the worker idle outside its own connection
retry), so the drill fills every slot, takes Redis away while they run, and brings it back after they
ended. A real worker process (``python -m workers``) and a redis-server of the test's own.
"""
from __future__ import annotations

import time

import redis
from rq import Queue

from app.config import load_settings
from tests.support.worker import WorkerProcess
from tests.test_durability import RedisServer
from workers.worker import JOB_CONCURRENCY

QUEUE = "tiergate-outage"
JOB_SECONDS = 5
OUTAGE_SECONDS = 15.0


def _log(tmp_path) -> str:
    return (tmp_path / "worker.log").read_text()[-3000:]


def test_a_busy_worker_lives_through_a_redis_outage_and_works_again(tmp_path, database_url):
    server = RedisServer().start()
    settings = load_settings(TIERGATE_DATA_DIR=tmp_path / "data", REDIS_URL=server.url, DATABASE_URL=database_url,
                             TIERGATE_QUEUE=QUEUE)
    connection = redis.Redis.from_url(server.url)
    worker = WorkerProcess(settings, connection, log_path=tmp_path / "worker.log").start()
    try:
        queue = Queue(QUEUE, connection=connection)
        queue.enqueue_many([Queue.prepare_data("time.sleep", (JOB_SECONDS,)) for _ in range(JOB_CONCURRENCY)])
        deadline = time.monotonic() + 20
        while queue.count and time.monotonic() < deadline:  # every slot taken: the loop waits for one
            time.sleep(0.1)
        assert queue.count == 0, _log(tmp_path)
        server.stop()
        time.sleep(OUTAGE_SECONDS)  # the jobs end, the loop stops and restarts (1, 2, 4 s backoff) meanwhile
        assert worker.process.poll() is None, _log(tmp_path)
        server.start()  # the same port, empty (no persistence)
        back = time.monotonic()
        connection = redis.Redis.from_url(server.url)
        job = Queue(QUEUE, connection=connection).enqueue("time.sleep", 0)
        deadline = time.monotonic() + 45
        while job.get_status(refresh=True) != "finished" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert job.get_status() == "finished", _log(tmp_path)
        assert worker.process.poll() is None
        print(f"worker alive after a {OUTAGE_SECONDS:.0f} s outage; a new job finished "
              f"{time.monotonic() - back:.1f} s after Redis returned")
    finally:
        worker.stop()
        server.stop()
