"""Callback signing, SSRF refusal, and delivery from the outbox with retry."""
from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
from sqlalchemy import update

from app import create_app
from app.execution import outbox
from app.execution.callbacks import (CallbackDeliveryError, CallbackRefused, body_bytes, check_target, deliver, enqueue_callback,
                           sign, signed_headers)
from app.config import load_settings
from app.store import Delivery, utcnow
from tests.conftest import TEST_QUEUE
from tests.support.receiver import CallbackReceiver


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
    # IPv4 inside IPv6 (issue 25 item 12): NAT64 well-known and local-use prefixes, 6to4, IPv4-mapped.
    "http://[64:ff9b::7f00:1]:8080/x", "http://[64:ff9b::a00:8]/x", "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",
    "http://[64:ff9b:1::808:808]/x", "http://[2002:7f00:1::1]/x", "http://[2002:c0a8:114::]/x",
    "http://[2002:a9fe:a9fe::]/x", "http://[::ffff:127.0.0.1]/x",
])
def test_private_loopback_and_link_local_targets_are_refused(url):
    with pytest.raises(CallbackRefused) as refused:
        check_target(url, set())
    assert refused.value.field == "callback_url" and refused.value.status == 422


@pytest.mark.parametrize("url, allowed", [
    ("http://192.168.1.20:5678/webhook/abc", {"192.168.1.20"}),
    ("http://n8n.lan:5678/webhook/abc", {"n8n.lan:5678"}),
    ("https://93.184.216.34/hook?token=1", set()),
    ("https://[64:ff9b::5db8:d822]/hook", set()),  # NAT64 of the public 93.184.216.34
    ("https://[2002:5db8:d822::1]/hook", set()),  # 6to4 of the same
    ("http://127.0.0.1:5678/webhook/abc", {"127.0.0.1:5678"}),
])
def test_public_targets_and_allowed_hosts_pass(url, allowed):
    check_target(url, allowed)


def test_a_host_pinned_to_a_port_allows_only_that_port():
    with pytest.raises(CallbackRefused):
        check_target("http://127.0.0.1:6379/x", {"127.0.0.1:5678"})


@pytest.fixture
def receiver():
    server = CallbackReceiver()
    yield server
    server.close()


def test_deliver_posts_the_exact_signed_bytes(receiver):
    status = deliver(receiver.url + "/hook?x=1", {"event": "review.decided", "review_id": "rev_1"}, "k", {"127.0.0.1"},
                     delivery_id=1)
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
                deliver(receiver.url + "/hook", {"event": "job.finished"}, "k", {"127.0.0.1"}, delivery_id=1)
    finally:
        receiver.close()


def test_a_callback_waits_in_the_outbox_until_the_receiver_takes_it(tmp_path, redis_url, database_url, redis_conn):
    """A receiver that fails gets the callback again later (the row says why meanwhile); Redis plays no part."""
    receiver = CallbackReceiver(statuses=[503])
    settings = load_settings(TIERGATE_DATA_DIR=tmp_path / "data", REDIS_URL=redis_url, DATABASE_URL=database_url,
                             TIERGATE_QUEUE=TEST_QUEUE, TIERGATE_CALLBACK_ALLOW_HOSTS="127.0.0.1",
                             TIERGATE_CALLBACK_SECRET="k")
    app = create_app(settings, migrate=False)
    store = app.extensions["store"]
    try:
        delivery_id = enqueue_callback(store, settings, receiver.url + "/hook?sig=1",
                                       {"event": "review.decided", "review_id": "rev_9"})
        with pytest.raises(CallbackRefused):
            enqueue_callback(store, settings, "http://10.0.0.1/hook", {"event": "review.decided"})
        receiver.wait(1)
        row = _delivery(store, delivery_id, lambda row: row.attempts == 1 and row.status == outbox.PENDING
                        and row.last_error)
        assert "503" in row.last_error and "sig=1" not in row.last_error
        due_in = (_aware(row.next_attempt_at) - utcnow()).total_seconds()
        assert outbox.RETRY_INTERVALS_SECONDS[0] - 2 < due_in <= outbox.RETRY_INTERVALS_SECONDS[0]

        redis_conn.flushdb()  # nothing about the callback lives in Redis
        with store.session() as session:  # its retry time comes
            session.execute(update(Delivery).where(Delivery.id == delivery_id).values(next_attempt_at=utcnow()))
        assert outbox.deliver_due(store, settings) == 1
        (first, second) = receiver.wait(2)
        assert first.body == second.body and json.loads(second.body)["review_id"] == "rev_9"
        # At least once: every try carries the same id for the receiver to de-duplicate by.
        assert first.headers["x-tiergate-delivery-id"] == second.headers["x-tiergate-delivery-id"] == str(delivery_id)
        assert _delivery(store, delivery_id, lambda row: row.status == outbox.DELIVERED).attempts == 2
        assert outbox.deliver_due(store, settings) == 0  # delivered once, never again
    finally:
        receiver.close()
        store.dispose()


def test_a_receiver_that_never_answers_ends_dead_not_forgotten(tmp_path, redis_url, database_url, redis_conn):
    receiver = CallbackReceiver(statuses=[500] * outbox.MAX_TRIES)
    settings = load_settings(TIERGATE_DATA_DIR=tmp_path / "data", REDIS_URL=redis_url, DATABASE_URL=database_url,
                             TIERGATE_CALLBACK_ALLOW_HOSTS="127.0.0.1", TIERGATE_CALLBACK_SECRET="k")
    app = create_app(settings, migrate=False)
    store = app.extensions["store"]
    try:
        with store.session() as session:
            delivery_id = outbox.add(session, receiver.url + "/hook", {"event": "job.finished"}).id
        for _ in range(outbox.MAX_TRIES):
            with store.session() as session:
                session.execute(update(Delivery).where(Delivery.id == delivery_id).values(next_attempt_at=utcnow()))
            outbox.deliver(store, settings, delivery_id)
        row = _delivery(store, delivery_id, lambda row: True)
        assert (row.status, row.attempts) == (outbox.DEAD, outbox.MAX_TRIES) and "500" in row.last_error
        with store.session() as session:
            assert outbox.dead_count(session) == 1
    finally:
        receiver.close()
        store.dispose()


def _delivery(store, delivery_id, ready, seconds: float = 10):
    deadline = time.monotonic() + seconds
    while True:
        with store.session() as session:
            row = session.get(Delivery, delivery_id)
        if ready(row) or time.monotonic() > deadline:
            return row
        time.sleep(0.05)


def _aware(moment):
    from datetime import timezone

    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
