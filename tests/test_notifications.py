"""People are told a draft waits: a signed ``review.created`` event to an incoming-webhook URL and an
e-mail over SMTP, per task type or for all, at once or as a digest; through the outbox, so a receiver
that fails for good shows on the admin page and /reports. Real HTTP receiver, real SMTP server (aiosmtpd)."""
from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time
from datetime import timedelta
from email import message_from_bytes

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from app.notify import notifications
from app.config import load_settings
from app.errors import ConfigError
from app.store import Delivery, Review, utcnow
from tests.conftest import TEST_QUEUE
from tests.support.receiver import CallbackReceiver
from tests.support.worker import WorkerProcess

SECRET = "notify-test-secret"
SUPPORT_BODY = {"task_type": "support_reply", "external": True, "exec": "sync",
                "text": "Hello, my invoice 2291 was charged twice.\nPlease refund one.",
                "metadata": {"customer_email": "maria.rossi@example.com", "subject": "Invoice 2291"}}


class Mailbox:
    """aiosmtpd's handler: keeps every message it is given."""

    def __init__(self):
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"

    def wait(self, count: int = 1, timeout: float = 15.0):
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.messages) >= count, f"expected {count} mail(s), got {len(self.messages)}"
        return self.messages


@pytest.fixture
def receiver():
    server = CallbackReceiver()
    yield server
    server.close()


@pytest.fixture
def mailbox():
    box = Mailbox()
    with socket.socket() as sock:  # aiosmtpd checks its own start by connecting to the port it was given
        sock.bind(("127.0.0.1", 0))
        box.port = sock.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    yield box
    controller.stop()


def _settings(tmp_path, redis_url, database_url, **extra):
    return load_settings(TIERGATE_DATA_DIR=tmp_path / "data", REDIS_URL=redis_url, DATABASE_URL=database_url,
                         TIERGATE_QUEUE=TEST_QUEUE, TIERGATE_CALLBACK_SECRET=SECRET,
                         TIERGATE_CALLBACK_ALLOW_HOSTS="127.0.0.1", TIERGATE_PUBLIC_URL="https://tiergate.example.com",
                         **extra)


@pytest.fixture
def settings(tmp_path, redis_url, database_url, redis_conn, receiver, mailbox):
    return _settings(tmp_path, redis_url, database_url, TIERGATE_NOTIFY_WEBHOOK_URL=receiver.url + "/slack-hook",
                     TIERGATE_NOTIFY_EMAIL="support-team@example.com,lead@example.com",
                     TIERGATE_NOTIFY_TASK_TYPES="support_reply",
                     TIERGATE_SMTP_HOST="127.0.0.1", TIERGATE_SMTP_PORT=str(mailbox.port),
                     TIERGATE_SMTP_FROM="tiergate@example.com")


def _held(client, auth, body=SUPPORT_BODY):
    answer = client.post("/v1/fallback", json=body, headers=auth)
    assert answer.status_code == 200, answer.json
    assert answer.json["needs_review"] is True
    return answer.json


def test_a_held_draft_is_announced_by_signed_webhook_and_by_mail(client, auth, receiver, mailbox):
    answer = _held(client, auth)
    (delivery,) = receiver.wait(1)
    assert delivery.path == "/slack-hook"
    stamp = delivery.headers["x-tiergate-timestamp"]
    expected = "sha256=" + hmac.new(SECRET.encode(), f"{stamp}.".encode() + delivery.body, hashlib.sha256).hexdigest()
    assert delivery.headers["x-tiergate-signature"] == expected
    event = json.loads(delivery.body)
    assert event["event"] == "review.created" and event["review_id"] == answer["review_id"]
    assert event["review_url"] == f"https://tiergate.example.com/review/{answer['review_id']}"
    assert event["customer"] == "maria.rossi@example.com" and event["subject"] == "Invoice 2291"
    assert event["first_line"] == "Hello, my invoice 2291 was charged twice."
    assert event["task_type"] == "support_reply" and "external" in event["reasons"]
    assert "maria.rossi@example.com" in event["text"] and event["review_url"] in event["text"]  # Slack/Teams show text

    ((sender, recipients, raw),) = mailbox.wait(1)
    mail = message_from_bytes(raw)
    assert sender == "tiergate@example.com" and recipients == ["support-team@example.com", "lead@example.com"]
    assert mail["Subject"] == "Tiergate: 1 draft waiting for review (support_reply)"
    assert event["review_url"] in mail.get_payload(decode=True).decode()


def test_a_draft_held_by_a_queued_request_is_announced_by_the_worker_that_ran_it(app, client, auth, redis_conn,
                                                                                 receiver, mailbox):
    """The outcome of a worker's run is written with plain INSERTs, outside any session hook: it says so itself."""
    worker = WorkerProcess(app.config["TIERGATE"], redis_conn).start()
    try:
        queued = client.post("/v1/fallback", json={**SUPPORT_BODY, "exec": "async"}, headers=auth)
        assert queued.status_code == 202, queued.json
        (delivery,) = receiver.wait(1, timeout=60)
        mailbox.wait(1, timeout=30)  # the worker delivers both channels' messages
    finally:
        worker.stop()
    event = json.loads(delivery.body)
    assert (event["event"], event["task_type"], event["request_id"]) == ("review.created", "support_reply",
                                                                         queued.json["job_id"])
    with app.extensions["store"].session() as session:
        (review,) = session.scalars(select(Review)).all()
        assert event["review_id"] == review.id and review.request_id == queued.json["job_id"]


def test_other_task_types_are_not_announced(app, client, auth, receiver, mailbox):
    _held(client, auth, {**SUPPORT_BODY, "task_type": "crm_cleanup", "risk": "high"})
    with app.extensions["store"].session() as session:
        assert session.scalars(select(Review)).all()  # held, yet nobody is told: the channel is for support_reply
        assert session.scalars(select(Delivery).where(Delivery.event == "review.created")).all() == []
    time.sleep(0.5)
    assert receiver.deliveries == [] and mailbox.messages == []


def test_the_resume_url_is_never_sent_review_created(client, auth, receiver):
    """The workflow's own callback_url is its Wait node: only the decision may resume it."""
    waiting = CallbackReceiver()
    try:
        _held(client, auth, {**SUPPORT_BODY, "callback_url": waiting.url + "/webhook-waiting/1"})
        receiver.wait(1)
        time.sleep(0.5)
        assert all(json.loads(d.body)["event"] != "review.created" for d in waiting.deliveries)
    finally:
        waiting.close()


@pytest.fixture
def digest_settings(tmp_path, redis_url, database_url, redis_conn, receiver):
    channels = tmp_path / "notify.yaml"
    channels.write_text(f"""
- name: support digest
  webhook_url: {receiver.url}/digest
  task_types: [support_reply]
  digest_minutes: 60
""")
    return _settings(tmp_path, redis_url, database_url, TIERGATE_NOTIFY_FILE=str(channels))


def test_digest_lists_what_waits_once_per_interval(tmp_path, redis_url, database_url, redis_conn, receiver, make_key,
                                                   digest_settings):
    from app import create_app

    app = create_app(digest_settings, migrate=False)
    try:
        client, auth = app.test_client(), {"X-API-Key": _key(app)}
        first = _held(client, auth)
        second = _held(client, auth, {**SUPPORT_BODY, "metadata": {"customer_name": "Sam Lee", "subject": "Refund"}})
        time.sleep(0.3)
        assert receiver.deliveries == []  # a digest channel says nothing at once
        store = app.extensions["store"]
        later = utcnow()
        assert notifications.send_digests(store, digest_settings, now=later) == 1
        (delivery,) = receiver.wait(1)
        digest = json.loads(delivery.body)
        assert digest["event"] == "review.digest" and digest["count"] == 2
        assert [item["review_id"] for item in digest["reviews"]] == [first["review_id"], second["review_id"]]
        assert "2 drafts waiting for review" in digest["text"] and "Sam Lee · Refund" in digest["text"]
        # Within the interval nothing more is sent, even with a new item; after it, only the new item.
        third = _held(client, auth)
        assert notifications.send_digests(store, digest_settings, now=later + timedelta(minutes=30)) == 0
        assert notifications.send_digests(store, digest_settings, now=later + timedelta(minutes=61)) == 1
        receiver.wait(2)
        assert [item["review_id"] for item in json.loads(receiver.deliveries[1].body)["reviews"]] == [third["review_id"]]
    finally:
        app.extensions["store"].dispose()


def _key(app) -> str:
    from app.api.auth import SCOPES, create_key

    with app.extensions["store"].session() as session:
        return create_key(session, "notify", list(SCOPES))[1]


@pytest.mark.parametrize("env, problem", [
    ({"TIERGATE_NOTIFY_WEBHOOK_URL": "hooks.slack.com/x"}, "TIERGATE_NOTIFY_WEBHOOK_URL: must be an absolute http"),
    ({"TIERGATE_NOTIFY_EMAIL": "not-an-address"}, "TIERGATE_NOTIFY_EMAIL: 'not-an-address' is not an e-mail"),
])
def test_bad_channel_settings_stop_the_start_naming_the_setting(tmp_path, redis_url, database_url, env, problem):
    with pytest.raises(ConfigError, match=problem) as caught:
        notifications.channels(_settings(tmp_path, redis_url, database_url, **env))
    assert str(caught.value).startswith("TIERGATE_NOTIFY_")


def test_bad_channel_file_names_the_entry(tmp_path, redis_url, database_url):
    path = tmp_path / "notify.yaml"
    path.write_text("- name: x\n  webhook_url: https://hooks.example.com/a\n  digest: 5\n")
    with pytest.raises(ConfigError, match=r"channel 1: unknown field\(s\) digest"):
        notifications.channels(_settings(tmp_path, redis_url, database_url, TIERGATE_NOTIFY_FILE=str(path)))


def test_a_mail_that_cannot_be_sent_is_retried_then_listed(app, client, auth, receiver, mailbox):
    """SMTP down: the outbox keeps the e-mail as a failing callback, shown on the admin page."""
    from app.admin.deliveries import troubled

    mailbox_port = app.config["TIERGATE"].smtp_port
    app.config["TIERGATE"].smtp_port = 1  # nothing listens there
    try:
        _held(client, auth)
        receiver.wait(1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with app.extensions["store"].session() as session:
                failing = [cb for cb in troubled(session) if cb.host.startswith("e-mail to")]
            if failing:
                break
            time.sleep(0.1)
        assert failing and failing[0].event == "review.created" and failing[0].status == "pending"
        assert failing[0].host == "e-mail to support-team@example.com,lead@example.com"
    finally:
        app.config["TIERGATE"].smtp_port = mailbox_port
