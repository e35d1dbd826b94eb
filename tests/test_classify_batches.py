"""Non-urgent lists through the Message Batches API: submit, a scheduled poll, collect, half price."""
from __future__ import annotations

from decimal import Decimal

from rq.job import Job
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

from app.pricing import Usage
from app.store import Attempt, Request
from app.web.context import runtime_of
from tests.test_classify import GLOSSARY, HAIKU, LABELS, SONNET, app  # noqa: F401  (app fixture: chunks of 5)
from tests.test_classify_jobs import run_worker


def run_scheduled(app, monkeypatch) -> int:
    """Run the jobs the scheduler holds (the batch poll) now instead of in a minute."""
    queue = app.extensions["job_queue"].queue
    registry = ScheduledJobRegistry(queue=queue)
    job_ids = [job_id for job_id in registry.get_job_ids()
               if Job.fetch(job_id, connection=queue.connection).func_name == "workers.classify.poll_batch_job"]
    for job_id in job_ids:
        registry.remove(job_id)
        queue.enqueue_job(Job.fetch(job_id, connection=queue.connection))
    run_worker(app, monkeypatch)
    return len(job_ids)


def test_a_batched_list_is_submitted_polled_and_collected_at_half_price(client, auth, app, fake_anthropic,
                                                                        monkeypatch):
    items = [f"lead {n}: B2B distributor" if n % 4 else f"lead {n}: walk-in customer" for n in range(12)]
    response = client.post("/v1/classify", headers=auth, json={"items": items, "labels": LABELS, "batch": True,
                                                               "instructions": GLOSSARY})
    assert response.status_code == 202
    request_id = response.get_json()["job_id"]

    run_worker(app, monkeypatch)  # submit: one batch with a request per chunk, the poll scheduled
    batched = [r for r in fake_anthropic.requests if r.path == "/v1/messages/batches"]
    assert len(batched) == 3 and not fake_anthropic.requests_for(SONNET)
    assert len({r.prefix_system for r in batched}) == 1
    status = client.get(f"/v1/jobs/{request_id}", headers=auth).get_json()
    assert status["status"] == "running" and status["result"] is None

    assert run_scheduled(app, monkeypatch) == 1  # the poll finds the batch ended and collects it
    status = client.get(f"/v1/jobs/{request_id}", headers=auth).get_json()
    result = status["result"]
    assert status["status"] == "needs_review" and status["progress"] == {"done": 12, "total": 12}
    assert len(result["results"]) == 12 and result["batch"] is True
    assert [r["label"] for r in result["results"]].count("B2B") == 9
    # Rows naming no label are unsure on tier1 and escalate once (a normal call), then come back unknown.
    assert [r["label"] for r in result["results"]].count("unknown") == 3
    with app.extensions["store"].session() as session:
        row = session.get(Request, request_id)
        attempts = session.scalars(select(Attempt).where(Attempt.request_id == request_id).order_by(Attempt.seq)).all()
        assert row.batch is True
    first_tier = [a for a in attempts if a.tier == "tier1"]
    assert len(first_tier) == 3 and all(a.batch and a.purpose == "answer" for a in first_tier)
    assert first_tier[0].cache_write_tokens and all(a.cache_read_tokens for a in first_tier[1:])
    prices = runtime_of(app).policy().prices
    for attempt in first_tier:
        usage = Usage(attempt.input_tokens, attempt.output_tokens, attempt.cache_write_tokens, attempt.cache_read_tokens)
        # The ledger keeps 8 decimal places.
        assert abs(attempt.cost_usd - prices.cost(HAIKU, usage) * Decimal("0.5")) < Decimal("1e-8")
        assert abs(attempt.baseline_cost_usd - prices.plain_cost(SONNET, usage)) < Decimal("1e-8")  # no discount
    escalations = [a for a in attempts if a.tier == "tier2"]
    assert escalations and not any(a.batch for a in escalations)
    assert row.cost_usd == sum(a.cost_usd for a in attempts)


def test_a_failed_batch_entry_is_answered_by_normal_calls(client, auth, app, fake_anthropic, monkeypatch):
    from tests.support.fake_anthropic import Reply

    fake_anthropic.script(HAIKU, Reply.server_error())  # the first batch entry errors
    response = client.post("/v1/classify", headers=auth, json={
        "items": [f"B2B firm {n}" for n in range(10)], "labels": LABELS, "batch": True})
    request_id = response.get_json()["job_id"]
    run_worker(app, monkeypatch)
    run_scheduled(app, monkeypatch)
    result = client.get(f"/v1/jobs/{request_id}", headers=auth).get_json()["result"]
    assert [r["label"] for r in result["results"]] == ["B2B"] * 10 and result["status"] == "done"
    with app.extensions["store"].session() as session:
        attempts = session.scalars(select(Attempt).where(Attempt.request_id == request_id).order_by(Attempt.seq)).all()
    assert [(a.batch, a.ok, a.gate) for a in attempts if a.tier == "tier1"] == [
        (True, False, "provider"), (False, True, None), (True, True, None)]
