"""Nothing is lost: a worker killed mid-job leaves a job that RQ re-queues and another worker finishes.

RQ notices an abandoned job when its started-registry entry outlives the dead worker's heartbeat
(about 90 s by default) and its maintenance runs; the test fast-forwards that clock by calling the
same cleanup with a later timestamp instead of sleeping 90 s. Everything else is real: the worker
process and its work horse are SIGKILLed while the model call is in flight.
"""
from __future__ import annotations

import time

from rq import Queue
from rq.job import Job
from rq.registry import StartedJobRegistry

from tests.support.fake_anthropic import Reply
from tests.support.worker import WorkerProcess
from tests.test_fallback_api import app, rows  # noqa: F401  (fixture)
from app.store import Request

SONNET = "claude-sonnet-4-6"
HEARTBEAT_FAST_FORWARD_SECONDS = 3600


def wait_until(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_job_whose_worker_is_killed_is_requeued_and_finished(client, auth, app, redis_conn, fake_anthropic):
    fake_anthropic.script(SONNET, Reply.hang(30, text="never delivered"), Reply.ok("finished after the restart", 10, 5))
    settings = app.config["TIERGATE"]
    first = WorkerProcess(settings, redis_conn).start()
    job_id = client.post("/v1/fallback", headers=auth, json={
        "task_type": "summary", "text": "notes", "exec": "async"}).get_json()["job_id"]
    wait_until(lambda: len(fake_anthropic.requests_for(SONNET)) == 1)  # mid-job: the model call is in flight
    queue = Queue(settings.queue_name, connection=redis_conn)
    assert job_id in StartedJobRegistry(queue=queue).get_job_ids()
    first.kill()

    assert Job.fetch(job_id, connection=redis_conn).get_status() == "started"  # nobody finished it
    second = WorkerProcess(settings, redis_conn).start()
    try:
        StartedJobRegistry(queue=queue).cleanup(timestamp=time.time() + HEARTBEAT_FAST_FORWARD_SECONDS)
        wait_until(lambda: client.get(f"/v1/jobs/{job_id}", headers=auth).get_json()["status"] == "done")
    finally:
        second.stop()
    job = client.get(f"/v1/jobs/{job_id}", headers=auth).get_json()
    assert job["result"]["output"] == "finished after the restart"
    assert len(fake_anthropic.requests_for(SONNET)) == 2
    assert Job.fetch(job_id, connection=redis_conn).retries_left == 1  # RQ's Retry paid for the restart
    (row,) = rows(app, Request, id=job_id)
    assert row.status == "done" and row.model == SONNET
