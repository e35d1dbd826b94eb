"""The review queue at small-business scale: search, pagination, readable reasons, metadata, bulk approve."""
from __future__ import annotations

import json
import re

import pytest

from app.config import load_settings
from app.execution.callbacks import sign
from app.store import Review
from tests.conftest import TEST_QUEUE
from tests.review_seed import add_flagged_draft, add_reviewer
from tests.support.receiver import CallbackReceiver
from tests.support.worker import WorkerProcess
from tests.test_review_pages import csrf, login

LOW_RISK = ("gates_failed",)
CALLBACK_SECRET = "bulk-approve-test-secret"


@pytest.fixture
def settings(tmp_path, redis_url, database_url, redis_conn):
    return load_settings(TIERGATE_DATA_DIR=tmp_path / "data", REDIS_URL=redis_url, DATABASE_URL=database_url,
                         TIERGATE_QUEUE=TEST_QUEUE, TIERGATE_CALLBACK_SECRET=CALLBACK_SECRET,
                         TIERGATE_CALLBACK_ALLOW_HOSTS="127.0.0.1")


@pytest.fixture
def store(app):
    add_reviewer(app.extensions["store"])
    return app.extensions["store"]


def shown_ids(page: str) -> list[str]:
    return re.findall(r'data-review-id="([^"]+)"', page)


def test_the_queue_pages_past_fifty_items(client, store):
    ids = [add_flagged_draft(store, draft=f"draft {i}", reasons=LOW_RISK) for i in range(120)]
    login(client)
    first = client.get("/review").get_data(as_text=True)
    third = client.get("/review?page=3").get_data(as_text=True)
    assert shown_ids(first) == ids[:50] and "1–50 of 120" in first and "Page 1 of 3" in first
    assert shown_ids(third) == ids[100:] and "101–120 of 120" in third
    assert 'rel="next"' in first and 'rel="next"' not in third


def test_search_finds_text_and_metadata(client, store):
    acme = add_flagged_draft(store, draft="Your parcel ships Monday", metadata={"customer": "Acme GmbH", "workflow": "wf-7"})
    other = add_flagged_draft(store, draft="Refund approved", metadata={"customer": "Brightwater", "workflow": "wf-9"})
    login(client)
    assert shown_ids(client.get("/review?q=acme").get_data(as_text=True)) == [acme]
    assert shown_ids(client.get("/review?q=wf-9").get_data(as_text=True)) == [other]
    assert shown_ids(client.get("/review?q=parcel").get_data(as_text=True)) == [acme]
    assert shown_ids(client.get("/review?q=nothing-like-this").get_data(as_text=True)) == []


def test_reasons_read_as_words_and_the_item_shows_the_request_metadata(client, store):
    review_id = add_flagged_draft(store, metadata={"customer": "Maria Rossi", "workflow": "support-inbox"})
    login(client)
    queue = client.get("/review").get_data(as_text=True)
    assert "Goes to a customer" in queue and "Always reviewed (task type)" in queue
    assert ">task_type_review<" not in queue
    item = client.get(f"/review/{review_id}").get_data(as_text=True)
    assert 'data-testid="metadata"' in item and "Maria Rossi" in item and "support-inbox" in item


def test_bulk_approve_sends_one_signed_callback_per_item_once(app, client, store, settings, redis_conn):
    receiver = CallbackReceiver()
    worker = WorkerProcess(settings, redis_conn).start()
    try:
        low = [add_flagged_draft(store, reasons=LOW_RISK, draft=f"label {i}", callback_url=f"{receiver.url}/hook/{i}")
               for i in range(3)]
        risky = add_flagged_draft(store, callback_url=f"{receiver.url}/hook/risky")  # external: never in bulk
        login(client)
        page = client.get("/review").get_data(as_text=True)
        assert f'value="{risky}"' not in page and all(f'value="{review_id}"' in page for review_id in low)
        form = {"csrf_token": csrf(client, "/review"), "review_id": low + [risky]}
        answer = client.post("/review/bulk-approve", data=form)
        again = client.post("/review/bulk-approve", data={**form, "csrf_token": csrf(client, "/review")})
        assert answer.status_code == again.status_code == 302

        deliveries = receiver.wait(3)
        with store.session() as session:
            statuses = {review_id: session.get(Review, review_id).status for review_id in low + [risky]}
        assert statuses == {**{review_id: "approved" for review_id in low}, risky: "pending"}
        import time
        time.sleep(1.5)  # a second delivery of any item would arrive by now
        assert len(receiver.deliveries) == 3
        assert sorted(d.path for d in deliveries) == [f"/hook/{i}" for i in range(3)]
        for delivery in deliveries:
            body = json.loads(delivery.body)
            assert body["event"] == "review.decided" and body["action"] == "approve"
            stamp = delivery.headers["x-tiergate-timestamp"]
            assert delivery.headers["x-tiergate-signature"] == sign(CALLBACK_SECRET, stamp, delivery.body)
    finally:
        worker.stop()
        receiver.close()


def test_the_api_pages_and_searches_the_queue(client, store, auth):
    ids = [add_flagged_draft(store, draft=f"draft {i}", reasons=LOW_RISK,
                             metadata={"workflow": "leads" if i % 2 else "crm"}) for i in range(7)]
    first = client.get("/v1/reviews?limit=3", headers=auth).get_json()
    third = client.get("/v1/reviews?limit=3&offset=6", headers=auth).get_json()
    assert [item["review_id"] for item in first["items"]] == ids[:3] and first["total"] == 7
    assert [item["review_id"] for item in third["items"]] == ids[6:]
    leads = client.get("/v1/reviews?q=leads", headers=auth).get_json()
    assert [item["review_id"] for item in leads["items"]] == ids[1::2] and leads["total"] == 3
    assert client.get("/v1/reviews?offset=-1", headers=auth).status_code == 422
