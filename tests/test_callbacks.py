"""Callback signing, SSRF refusal and delivery with retry."""
from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from app import create_app
from app.callbacks import (RETRY_INTERVALS_SECONDS, CallbackDeliveryError, CallbackRefused, body_bytes, check_target,
                           deliver, enqueue_callback, sign, signed_headers)
from app.config import load_settings
from app.queue import get_queue
from tests.conftest import TEST_QUEUE
from tests.support.receiver import CallbackReceiver
from tests.support.worker import WorkerProcess


def test_signature_is_hmac_sha256_over_timestamp_dot_body():
    body = body_bytes({"event": "job.finished", "output": "héllo"})
    headers = signed_headers("s3cret", body, timestamp=1700000000)
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert headers == {"Content-Type": "application/json", "X-Tiergate-Timestamp": "1700000000",
                       "X-Tiergate-Signature": f"sha256={expected}"}
    assert sign("other", "1700000000", body) != headers["X-Tiergate-Signature"]
    assert json.loads(body) == {"event": "job.finished", "output": "héllo"}


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/hook", "http://localhost:5678/webhook-waiting/1", "http://10.0.0.8/x", "http://192.168.1.20/x",
    "http://172.16.5.5/x", "http://169.254.169.254/latest/meta-data/", "http://[::1]/x", "http://[fe80::1]/x",
    "http://0.0.0.0/x", "http://100.64.0.1/x", "ftp://example.com/x", "http:///nohost", "file:///etc/passwd",
])
def test_private_loopback_and_link_local_targets_are_refused(url):
    with pytest.raises(CallbackRefused) as refused:
        check_target(url, set())
    assert refused.value.field == "callback_url" and refused.value.status == 422


@pytest.mark.parametrize("url, allowed", [
    ("http://192.168.1.20:5678/webhook/abc", {"192.168.1.20"}),
    ("http://n8n.lan:5678/webhook/abc", {"n8n.lan:5678"}),
    ("https://93.184.216.34/hook?token=1", set()),
])
def test_public_targets_and_allowed_hosts_pass(url, allowed):
    check_target(url, allowed)


@pytest.fixture
def receiver():
    server = CallbackReceiver()
    yield server
    server.close()


def test_deliver_posts_the_exact_signed_bytes(receiver):
    status = deliver(receiver.url + "/hook?x=1", {"event": "review.decided", "review_id": "rev_1"}, "k", {"127.0.0.1"})
    (delivery,) = receiver.deliveries
    assert status == 200 and delivery.path == "/hook?x=1"
    stamp = delivery.headers["x-tiergate-timestamp"]
    assert delivery.headers["x-tiergate-signature"] == sign("k", stamp, delivery.body)
    assert abs(int(stamp) - time.time()) < 5


def test_a_failing_receiver_raises_so_the_job_is_retried():
    receiver = CallbackReceiver(statuses=[500, 302])
    try:
        for _ in range(2):
            with pytest.raises(CallbackDeliveryError):
                deliver(receiver.url + "/hook", {"event": "job.finished"}, "k", {"127.0.0.1"})
    finally:
        receiver.close()


def test_delivery_runs_as_its_own_job_and_is_rescheduled_after_a_failure(tmp_path, redis_url, database_url,
                                                                        redis_conn):
    receiver = CallbackReceiver(statuses=[503])
    settings = load_settings(TIERGATE_DATA_DIR=tmp_path / "data", REDIS_URL=redis_url, DATABASE_URL=database_url,
                             TIERGATE_QUEUE=TEST_QUEUE, TIERGATE_CALLBACK_ALLOW_HOSTS="127.0.0.1",
                             TIERGATE_CALLBACK_SECRET="k")
    app = create_app(settings, migrate=False)
    worker = WorkerProcess(settings, redis_conn).start()
    try:
        with app.app_context():
            job_id = enqueue_callback(receiver.url + "/hook", {"event": "review.decided", "review_id": "rev_9"})
            with pytest.raises(CallbackRefused):
                enqueue_callback("http://10.0.0.1/hook", {"event": "review.decided"})
            queue = get_queue().queue
        receiver.wait(1)
        deadline = time.monotonic() + 10
        while Job.fetch(job_id, connection=redis_conn).get_status() != "scheduled" and time.monotonic() < deadline:
            time.sleep(0.05)
        job = Job.fetch(job_id, connection=redis_conn)
        assert job.get_status() == "scheduled" and job.retries_left == len(RETRY_INTERVALS_SECONDS) - 1
        assert job_id in ScheduledJobRegistry(queue=queue).get_job_ids()
    finally:
        worker.stop()
        receiver.close()
        app.extensions["store"].dispose()
