"""A batch whose prefix is written to the cache with the 1-hour TTL: both discounts, priced by hand."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from app.store import Attempt
from tests.support.fake_anthropic import Reply
from tests.test_classify import GLOSSARY, HAIKU, LABELS, app, verdicts  # noqa: F401  (app fixture: chunks of 5)
from tests.test_classify_batches import run_scheduled
from tests.test_classify_jobs import run_worker


def test_a_batch_with_a_one_hour_cache_write_stacks_the_discounts(client, auth, app, fake_anthropic,
                                                                   monkeypatch):
    fake_anthropic.script(HAIKU, Reply.ok(verdicts(*[("B2B", 0.95)] * 5), 300, 80, cache_write_tokens=4500,
                                          cache_write_1h_tokens=4500))
    items = [f"lead {n}: B2B distributor" for n in range(5)]  # one chunk of 5
    response = client.post("/v1/classify", headers=auth, json={"items": items, "labels": LABELS, "batch": True,
                                                               "instructions": GLOSSARY})
    request_id = response.get_json()["job_id"]
    run_worker(app, monkeypatch)
    assert run_scheduled(app, monkeypatch) == 1
    with app.extensions["store"].session() as session:
        (attempt,) = session.scalars(select(Attempt).where(Attempt.request_id == request_id)).all()
        assert attempt.batch and (attempt.cache_write_tokens, attempt.cache_write_1h_tokens) == (4500, 4500)
        # (300 x $1 + 4,500 x $1 x 2 + 80 x $5) / 1e6 x 0.5 batch discount.
        assert Decimal(str(attempt.cost_usd)) == Decimal("0.00485")
