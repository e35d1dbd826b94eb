"""Which delivered answers get a shadow comparison: rate, on/off, the answer's model, the budget."""
from __future__ import annotations

from decimal import Decimal

import pytest
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

from app import create_app
from app.config import load_settings
from app.errors import PolicyError
from app.policy import load_policy
from app.policy.loader import parse_policy
from app.shadow import after_delivery
from app.shadow.sampling import RUN_JOB, estimate
from app.pricing import Usage
from app.store import Attempt, Request, ShadowComparison
from app.web.context import runtime_of
from tests.conftest import TEST_QUEUE
from tests.test_shadow import HAIKU, SONNET, write_policy

ALWAYS, NEVER = (lambda: 0.0), (lambda: 0.999)


@pytest.fixture
def app(tmp_path, redis_url, database_url, redis_conn):
    policy = write_policy(tmp_path, {"classification": {"rate": 0.05, "monthly_budget_usd": "0.004"},
                                     "extraction": {"enabled": False}})
    settings = load_settings(TIERGATE_DATA_DIR=tmp_path / "data", REDIS_URL=redis_url, DATABASE_URL=database_url,
                             TIERGATE_QUEUE=TEST_QUEUE, TIERGATE_POLICY=str(policy))
    application = create_app(settings, migrate=False)
    yield application
    application.extensions["store"].dispose()


def delivered(app, task_type="classification", model=HAIKU, tier="tier1", status="done", dry_run=False) -> str:
    """A request as the fallback job leaves it: answered, with its kept answer attempt."""
    with app.extensions["store"].session() as session:
        row = Request(kind="fallback", task_type=task_type, tier=tier, model=model, status=status, dry_run=dry_run,
                      payload={"text": "Acme GmbH", "decision": {"task_type": task_type, "tier": tier}},
                      result={"output": {"label": "B2B"}, "model": model, "status": status})
        row.attempts.append(Attempt(seq=1, purpose="answer", tier=tier, model=model, ok=True, input_tokens=1000,
                                    output_tokens=20))
        session.add(row)
        session.flush()
        return row.id


def scheduled(app) -> list[str]:
    """Shadow jobs waiting in RQ's scheduler (the monthly sample's job waits there too)."""
    queue = app.extensions["job_queue"].queue
    return [job_id for job_id in ScheduledJobRegistry(queue=queue).get_job_ids()
            if Job.fetch(job_id, connection=queue.connection).func_name == RUN_JOB]


def test_a_sampled_answer_gets_a_comparison_and_a_shadow_job_after_a_delay(app):
    comparison_id = after_delivery(runtime_of(app), delivered(app), draw=ALWAYS)
    with app.extensions["store"].session() as session:
        row = session.get(ShadowComparison, comparison_id)
        assert (row.status, row.comparator, row.answer_model, row.baseline_model) == ("queued", "label", HAIKU, SONNET)
        assert row.estimated_cost_usd == Decimal("0.00165")  # 1,000 in, 20 out on Sonnet at the batch price
    assert scheduled(app) == [comparison_id]  # not run now: the shadow job starts after a delay


@pytest.mark.parametrize("draw, kwargs", [
    (NEVER, {}),                                              # not drawn at a 5% rate
    (ALWAYS, {"model": SONNET, "tier": "tier2"}),             # the baseline model answered: nothing to compare
    (ALWAYS, {"task_type": "extraction"}),                    # shadow switched off
    (ALWAYS, {"task_type": "summary"}),                       # no shadow setting
    (ALWAYS, {"status": "failed"}),                           # no answer to compare
    (ALWAYS, {"dry_run": True}),                              # a dry run answer is not a model's answer
])
def test_not_shadowed(app, draw, kwargs):
    assert after_delivery(runtime_of(app), delivered(app, **kwargs), draw=draw) is None
    with app.extensions["store"].session() as session:
        assert session.scalars(select(ShadowComparison)).all() == []
    assert scheduled(app) == []


def test_sampling_stops_when_the_month_budget_would_be_overshot(app):
    # $0.004 holds two estimates of $0.00165, still queued; the third would make $0.00495.
    first, second, third = (after_delivery(runtime_of(app), delivered(app), draw=ALWAYS) for _ in range(3))
    assert first and second and third is None
    with app.extensions["store"].session() as session:
        row = session.get(ShadowComparison, first)
        row.status, row.shadow_cost_usd = "agree", Decimal("0.0001")  # it cost less than estimated
    assert after_delivery(runtime_of(app), delivered(app), draw=ALWAYS) is not None  # room again


def test_a_failing_hook_never_fails_the_request():
    class Broken:  # a runtime whose database is gone
        @property
        def store(self):
            raise RuntimeError("the database is gone")

    assert after_delivery(Broken(), "req_x", draw=ALWAYS) is None


def test_the_judge_estimate_counts_against_the_budget():
    policy = load_policy()
    usage = Usage(1000, 20)
    assert estimate(policy, usage, "judge") > estimate(policy, usage, "label") == Decimal("0.00165")


def test_an_unknown_comparator_is_a_policy_error_naming_the_field(tmp_path):
    path = write_policy(tmp_path, {"classification": {"comparator": "vibes"}})
    with pytest.raises(PolicyError) as error:
        parse_policy(path.read_text(), source="ops.yaml")
    assert "task_types.classification.shadow.comparator: unknown comparator 'vibes'" in str(error.value)
