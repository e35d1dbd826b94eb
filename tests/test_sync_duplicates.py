"""Issue 25 item 11: an in-flight duplicate of a sync ``Idempotency-Key`` on /v1/fallback and /v1/classify
waits for the first copy's answer (up to the sync bound) instead of answering 202, as the drop-in endpoints do.

A Zapier or Make retry sent while the first copy is still with the model gets the same 200 answer,
marked ``Idempotent-Replayed``, and the model is called once.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.test_classify import HAIKU, LABELS, verdicts

from tests.support.fake_anthropic import Reply
from tests.support.gateway_app import app, fake_openai, gateway_policy, server  # noqa: F401

SONNET = "claude-sonnet-4-6"  # summary runs on tier2
BODY = {"task_type": "summary", "text": "meeting notes: ship on friday"}


@pytest.fixture
def fallback_headers(make_key):
    return {"X-API-Key": make_key(["fallback"]), "Idempotency-Key": "zap-run-7"}


def post(server, headers, body=BODY):
    return requests.post(server + "/v1/fallback", json=body, headers=headers, timeout=60)


def test_a_sync_duplicate_in_flight_gets_the_first_answer_not_202(server, fallback_headers, fake_anthropic):
    fake_anthropic.script(SONNET, Reply.hang(2.0, "Ship on Friday."))
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(post, server, fallback_headers)
        fake_anthropic_wait_for_call(fake_anthropic)
        duplicate = pool.submit(post, server, fallback_headers).result()
        first = first.result()

    assert first.status_code == 200, first.text[:300]
    assert duplicate.status_code == 200, duplicate.text[:300]
    assert duplicate.headers["Idempotent-Replayed"] == "true"
    assert duplicate.json()["request_id"] == first.json()["request_id"]
    assert duplicate.json()["output"] == first.json()["output"] == "Ship on Friday."
    assert len(fake_anthropic.requests) == 1  # the model was paid once


@pytest.mark.parametrize("app", [{"TIERGATE_SYNC_WAIT_SECONDS": 3}], indirect=True)
def test_the_duplicate_waits_no_longer_than_the_sync_bound(server, fallback_headers, fake_anthropic):
    fake_anthropic.script(SONNET, Reply.hang(8.0, "Too late."))
    with ThreadPoolExecutor(2) as pool:
        pool.submit(post, server, fallback_headers)
        fake_anthropic_wait_for_call(fake_anthropic)
        duplicate = pool.submit(post, server, fallback_headers)
        answer = duplicate.result()

    assert answer.status_code == 202 and answer.json()["status"] == "queued"


def test_a_sync_classify_duplicate_in_flight_gets_the_first_answer_not_202(server, make_key, fake_anthropic):
    fake_anthropic.script(HAIKU, Reply.hang(2.0, verdicts(("B2B", 0.95), ("B2C", 0.9))))
    headers = {"X-API-Key": make_key(["classify"]), "Idempotency-Key": "make-run-3"}
    body = {"items": ["Acme GmbH buys 40 seats", "a birthday gift"], "labels": LABELS}

    def classify():
        return requests.post(server + "/v1/classify", json=body, headers=headers, timeout=60)

    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(classify)
        fake_anthropic_wait_for_call(fake_anthropic)
        duplicate = pool.submit(classify).result()
        first = first.result()

    assert first.status_code == 200, first.text[:300]
    assert duplicate.status_code == 200, duplicate.text[:300]
    assert duplicate.headers["Idempotent-Replayed"] == "true"
    assert duplicate.json()["request_id"] == first.json()["request_id"]
    assert [r["label"] for r in duplicate.json()["results"]] == ["B2B", "B2C"]
    assert len(fake_anthropic.requests) == 1  # the model was paid once


def fake_anthropic_wait_for_call(fake, timeout: float = 10.0) -> None:
    """Block until the first copy's model call has reached the fake (so the duplicate is truly in flight)."""
    import time

    deadline = time.monotonic() + timeout
    while not fake.requests:
        assert time.monotonic() < deadline, "the first request never reached the model"
        time.sleep(0.02)
