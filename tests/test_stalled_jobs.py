"""Issue 25 item 2: a job RQ moved but nobody ran is queued again within a minute, and finished once.

A worker killed after RQ took a job off the queue (into its intermediate list, or on to ``started``)
but before the job claimed its row leaves the row ``queued`` and RQ saying the job is waiting. The
sweeper used to take RQ's word for it and the request stalled until RQ's own maintenance (2-16 min).
Real processes: an RQ worker that hangs at that point and is SIGKILLed (``tests.support.stalling_worker``),
then a real Tiergate worker whose sweeper must notice; the fake Messages API and a callback receiver.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from rq import Queue
from rq.registry import StartedJobRegistry

from app.store import Request
from tests.support.worker import PROJECT_ROOT, WorkerProcess
from tests.test_fallback_api import app, receiver, verify  # noqa: F401 (fixtures)

RECOVERY_BOUND_SECONDS = 60


def _stall(settings, redis_conn, stage: str) -> subprocess.Popen:
    """Start the stalling worker and wait until it holds the queued job."""
    process = subprocess.Popen([sys.executable, "-m", "tests.support.stalling_worker", settings.redis_url,
                                settings.queue_name, stage], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True)
    for line in process.stdout:  # RQ's log lines, then ours
        if line.startswith("holding"):
            return process
    raise AssertionError(f"the stalling worker exited ({process.wait()}) without taking the job")


@pytest.mark.parametrize("stage", ["started", "intermediate"])
def test_a_job_whose_worker_died_before_it_claimed_its_row_is_finished_within_a_minute(
        client, auth, app, redis_conn, receiver, fake_anthropic, stage, tmp_path):
    settings = app.config["TIERGATE"]
    response = client.post("/v1/fallback", headers=auth, json={
        "task_type": "summary", "text": "Notes: ship on Friday.", "exec": "async", "callback_url": receiver.url + "/cb"})
    assert response.status_code == 202
    job_id = response.get_json()["job_id"]

    stalled = _stall(settings, redis_conn, stage)
    try:
        queue = Queue(settings.queue_name, connection=redis_conn)
        job = queue.fetch_job(job_id)
        assert job_id not in queue.job_ids  # off the queue list, in RQ's hands
        assert job.get_status() == ("started" if stage == "started" else "queued")
        if stage == "started":
            assert job_id in StartedJobRegistry(queue=queue)
    finally:
        stalled.send_signal(signal.SIGKILL)
        stalled.wait()
    killed = time.monotonic()

    worker = WorkerProcess(settings, redis_conn, log_path=tmp_path / "worker.log").start()
    try:
        (delivery,) = receiver.wait(1, timeout=RECOVERY_BOUND_SECONDS)
        took = time.monotonic() - killed
        payload = verify(delivery)
        assert (payload["job_id"], payload["status"]) == (job_id, "done")
        time.sleep(6)  # a second sweep: nothing runs or is sent twice
        assert len(receiver.deliveries) == 1
        with app.extensions["store"].session() as session:
            assert session.get(Request, job_id).status == "done"
        assert len(fake_anthropic.requests) == 1
        print(f"{stage}: finished {took:.1f} s after its worker was killed")
    finally:
        worker.stop()
