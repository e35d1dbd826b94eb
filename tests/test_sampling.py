"""Monthly quality sampling: the strata, the wrong-answer bands at their boundaries, apply and rollback."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner

from app import sampling
from app.cli import cli
from app.errors import Conflict
from app.reviews.service import DecisionInput, decide
from app.routing.state import current_policy
from app.sampling import ADJUST, KEEP, MOVE_UP, NO_DATA, allocate, draw_sample, recommend
from workers.reviews import monthly_sample_job
from app.store import PolicyVersion, Request, Review
from tests.review_seed import add_tier1_answers

MONTH = "2026-03"
PLENTY = {"classification": 25, "list_classification": 0, "extraction": 8, "crm_cleanup": 6, "format_rewrite": 12,
          "translation": 11}


@pytest.fixture
def store(app):
    return app.extensions["store"]


# -- strata --------------------------------------------------------------------------------------

def test_default_allocation_when_every_class_has_enough():
    assert allocate(sampling.DEFAULT_STRATA, {"classification": 100, "extraction": 30, "format_rewrite": 10,
                                              "translation": 99}) == sampling.DEFAULT_STRATA


def test_a_short_class_gives_its_places_to_the_others_in_proportion():
    drawn = allocate(sampling.DEFAULT_STRATA, {"classification": 500, "extraction": 500, "format_rewrite": 500,
                                               "translation": 4})
    assert drawn["translation"] == 4 and sum(drawn.values()) == 50
    assert drawn == {"classification": 23, "extraction": 12, "format_rewrite": 11, "translation": 4}


def test_a_thin_month_samples_everything_it_has():
    available = {"classification": 3, "extraction": 0, "format_rewrite": 12, "translation": 2}
    assert allocate(sampling.DEFAULT_STRATA, available) == available


def test_draw_takes_the_strata_from_tier1_answers_of_the_month(store, app):
    add_tier1_answers(store, MONTH, PLENTY)
    add_tier1_answers(store, "2026-04", {"classification": 5})  # another month
    with app.app_context(), store.session() as session:
        result = draw_sample(session, MONTH, seed=7)
    assert result.drawn == {"classification": 20, "extraction": 10, "format_rewrite": 10, "translation": 10}
    assert result.available == {"classification": 25, "extraction": 14, "format_rewrite": 12, "translation": 11}
    with store.session() as session:
        items = session.query(Review).filter_by(kind="audit").all()
        assert len(items) == 50 and {item.audit_month for item in items} == {MONTH}
        assert {item.task_type for item in items if item.audit_class == "extraction"} <= {"extraction", "crm_cleanup"}
        sample = next(item for item in items if item.audit_class == "translation")
        assert sample.status == "pending" and sample.tier == "tier1" and sample.callback_url is None
        assert sample.input_text.startswith("translation input") and sample.draft.startswith("translation answer")
        assert sample.reasons[0]["rule"] == "audit_sample"


def test_a_month_is_drawn_once(store, app):
    add_tier1_answers(store, MONTH, PLENTY)
    with store.session() as session:
        draw_sample(session, MONTH, seed=1)
    with store.session() as session:
        again = draw_sample(session, MONTH, seed=2)
    assert again.already_drawn and again.total == 50
    with store.session() as session:
        assert session.query(Review).filter_by(kind="audit").count() == 50


def test_only_tier1_finished_answers_are_sampled(store, app):
    add_tier1_answers(store, MONTH, {"translation": 3})
    with store.session() as session:
        for row in session.query(Request).all()[:1]:
            row.tier = "tier2"
        for row in session.query(Request).all()[1:2]:
            row.status = "needs_review"
    with store.session() as session:
        assert draw_sample(session, MONTH).drawn["translation"] == 1


def test_classify_lists_are_sampled_row_by_row(store):
    with store.session() as session:
        session.add(Request(
            kind="classify", task_type="list_classification", tier="tier1", status="needs_review",
            created_at=datetime(2026, 3, 5, tzinfo=timezone.utc), progress_total=3,
            payload={"items": [{"id": "a", "text": "Acme GmbH"}, {"id": "b", "text": "Jo"}, {"id": "c", "text": "?"}],
                     "spec": {"labels": [{"name": "B2B"}, {"name": "B2C"}]}},
            result={"results": [{"id": "a", "label": "B2B", "confidence": 0.9, "reason": "GmbH"},
                                {"id": "b", "label": "B2C", "confidence": 0.8, "reason": "person"},
                                {"id": "c", "label": "unknown", "needs_review": True}]}))
    with store.session() as session:
        result = draw_sample(session, MONTH)
    assert result.available["classification"] == 3 and result.drawn["classification"] == 2  # the flagged row is skipped
    with store.session() as session:
        texts = sorted(item.input_text for item in session.query(Review).filter_by(kind="audit"))
    assert texts == ["Acme GmbH\n\nLabels: B2B, B2C", "Jo\n\nLabels: B2B, B2C"]


# -- bands ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("wrong, marked, band", [
    (0, 20, KEEP),
    (1, 21, KEEP),        # 4.76%
    (1, 20, ADJUST),      # exactly 5%
    (3, 50, ADJUST),      # 6%
    (1, 10, ADJUST),      # exactly 10%
    (2, 20, ADJUST),      # exactly 10%
    (21, 200, MOVE_UP),   # 10.5%
    (3, 29, MOVE_UP),     # 10.3%
    (0, 0, NO_DATA),
])
def test_recommendation_bands_at_their_boundaries(wrong, marked, band):
    assert recommend(wrong, marked) == band


def mark_month(app, store, wrong_per_class: dict[str, int], minutes: float = 3.0) -> None:
    """Decide every audit item of MONTH: the first ``n`` of each class wrong, with a corrected answer."""
    with app.app_context(), store.session() as session:
        for audit_class, wrong in wrong_per_class.items():
            items = session.query(Review).filter_by(kind="audit", audit_class=audit_class).order_by(Review.id).all()
            for index, item in enumerate(items):
                decision = (DecisionInput("reject", text=f"corrected {index}", minutes_spent=minutes) if index < wrong
                            else DecisionInput("approve", minutes_spent=0.5))
                decide(session, item.id, decision, "rita@example.com")


def test_rates_per_class_from_marked_items(app, store):
    add_tier1_answers(store, MONTH, PLENTY)
    with store.session() as session:
        draw_sample(session, MONTH, seed=3)
    mark_month(app, store, {"classification": 3, "extraction": 1, "format_rewrite": 0})
    with store.session() as session:
        rates = {rate.audit_class: rate for rate in sampling.class_rates(session, MONTH)}
    assert (rates["classification"].wrong, rates["classification"].marked, rates["classification"].rate_pct) == (3, 20, 15.0)
    assert rates["classification"].recommendation == MOVE_UP
    assert rates["classification"].correction_minutes == 3.0
    assert rates["extraction"].recommendation == ADJUST and rates["extraction"].rate_pct == 10.0
    assert rates["format_rewrite"].recommendation == KEEP
    assert rates["translation"].recommendation == NO_DATA and rates["translation"].sampled == 10


# -- applying to the policy ----------------------------------------------------------------------

def test_move_up_applies_as_a_version_and_rolls_back(app, store):
    add_tier1_answers(store, MONTH, PLENTY)
    with store.session() as session:
        draw_sample(session, MONTH, seed=3)
    mark_month(app, store, {"classification": 3})
    with app.app_context():
        with store.session() as session:
            version = sampling.apply_recommendation(session, app, MONTH, "classification", "owner@example.com")
        assert current_policy().task_types["classification"].tier == "tier2"
        assert current_policy().task_types["list_classification"].tier == "tier2"
        assert current_policy().task_types["extraction"].tier == "tier1"
        assert version.author == "owner@example.com" and version.created_at
        assert version.reason.startswith("2026-03 audit: classification wrong 3/20 (15.0%) -> move the class up one tier")
        assert "classification tier1 -> tier2" in version.reason

        with store.session() as session:
            assert sampling.rollback(session, app, "owner@example.com", "too expensive") is None  # the file again
        assert current_policy().task_types["classification"].tier == "tier1"
    with store.session() as session:
        [retired] = session.query(PolicyVersion).all()
        assert not retired.active
        assert re.search(r"\[rolled back by owner@example\.com at 20\d\d-\d\d-\d\d \d\d:\d\d UTC: too expensive\]$",
                         retired.reason)


def test_rollback_walks_back_one_version_at_a_time(app, store):
    with app.app_context():
        with store.session() as session:
            text = sampling.policy_text_in_force(session, app)
            session.add(PolicyVersion(author="ops", reason="tier2", content=text.replace(
                "translation:\n    tier: tier1", "translation:\n    tier: tier2")))
            session.add(PolicyVersion(author="ops", reason="tier3", content=text.replace(
                "translation:\n    tier: tier1", "translation:\n    tier: tier3")))
        sampling.sync_policy(app)
        assert current_policy().task_types["translation"].tier == "tier3"
        with store.session() as session:
            assert sampling.rollback(session, app, "ops").reason == "tier2"
        assert current_policy().task_types["translation"].tier == "tier2"
        with store.session() as session:
            assert sampling.rollback(session, app, "ops") is None
        assert current_policy().task_types["translation"].tier == "tier1"


def test_adjust_adds_corrected_examples_to_the_prompt(app, store):
    add_tier1_answers(store, MONTH, PLENTY)
    with store.session() as session:
        draw_sample(session, MONTH, seed=3)
    mark_month(app, store, {"extraction": 1})
    with app.app_context():
        with store.session() as session:
            sampling.apply_recommendation(session, app, MONTH, "extraction", "owner@example.com")
        prompt = current_policy().task_types["extraction"].prompt
        assert "Correct answer: corrected 0" in prompt and current_policy().task_types["extraction"].tier == "tier1"


def test_nothing_to_apply_for_a_class_to_keep(app, store):
    add_tier1_answers(store, MONTH, PLENTY)
    with store.session() as session:
        draw_sample(session, MONTH, seed=3)
    mark_month(app, store, {"format_rewrite": 0})
    with app.app_context(), store.session() as session, pytest.raises(Conflict, match="keep as it is"):
        sampling.apply_recommendation(session, app, MONTH, "format_rewrite", "owner@example.com")
    with app.app_context(), store.session() as session, pytest.raises(Conflict, match="policy file is in force"):
        sampling.rollback(session, app, "owner@example.com")


def test_other_processes_pick_up_the_version_in_force(app, settings, store):
    from app import create_app

    other = create_app(settings, migrate=False)
    try:
        with store.session() as session:
            text = sampling.policy_text_in_force(session, app).replace("classification:\n    tier: tier1",
                                                                       "classification:\n    tier: tier3")
            session.add(PolicyVersion(author="ops", reason="test", content=text))
        sampling.sync_policy(other)
        assert other.extensions["routing"].policy.task_types["classification"].tier == "tier3"
        restarted = create_app(settings, migrate=False)
        assert restarted.extensions["routing"].policy.task_types["classification"].tier == "tier3"
        restarted.extensions["store"].dispose()
    finally:
        other.extensions["store"].dispose()


# -- scheduling and the command line -------------------------------------------------------------

def test_next_monthly_run():
    assert sampling.next_monthly_run(datetime(2026, 3, 15, tzinfo=timezone.utc)) == datetime(2026, 4, 1, 2, tzinfo=timezone.utc)
    assert sampling.next_monthly_run(datetime(2026, 12, 1, 1, tzinfo=timezone.utc)) == datetime(2026, 12, 1, 2, tzinfo=timezone.utc)
    assert sampling.next_monthly_run(datetime(2026, 12, 1, 3, tzinfo=timezone.utc)) == datetime(2027, 1, 1, 2, tzinfo=timezone.utc)


def test_the_monthly_draw_is_scheduled_once(app):
    job_queue = app.extensions["job_queue"]
    sampling.ensure_monthly_schedule(app)
    sampling.ensure_monthly_schedule(app)
    scheduled = job_queue.queue.scheduled_job_registry.get_job_ids()
    assert scheduled == [sampling.monthly_job_id(sampling.next_monthly_run())]


def test_monthly_job_draws_last_month_and_schedules_the_next(app, store, monkeypatch):
    monkeypatch.setattr("workers.context._app", app)
    add_tier1_answers(store, sampling.previous_month(), {"translation": 4})
    outcome = monthly_sample_job()
    assert outcome["drawn"]["translation"] == 4 and not outcome["already_drawn"]
    assert app.extensions["job_queue"].queue.scheduled_job_registry.get_job_ids()


def test_cli_sample_and_reviewers(settings, store, monkeypatch):
    monkeypatch.setenv("TIERGATE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    add_tier1_answers(store, MONTH, PLENTY)
    runner = CliRunner()
    drawn = runner.invoke(cli, ["sample", "--month", MONTH, "--seed", "1"])
    assert drawn.exit_code == 0, drawn.output
    assert "drew 50 audit items" in drawn.output and re.search(r"classification +20 of 25", drawn.output)
    assert "drawn before" in runner.invoke(cli, ["sample", "--month", MONTH]).output
    assert runner.invoke(cli, ["sample", "--month", "March"]).exit_code == 2

    created = runner.invoke(cli, ["reviewers", "create", "--email", "Sam@Example.com", "--password", "long enough pw"])
    assert created.exit_code == 0 and "sam@example.com" in created.output
    prompted = runner.invoke(cli, ["reviewers", "create", "--email", "kim@example.com"],
                             input="another long pw\nanother long pw\n")
    assert prompted.exit_code == 0, prompted.output
    short = runner.invoke(cli, ["reviewers", "create", "--email", "lee@example.com", "--password", "short"])
    assert short.exit_code == 2 and "at least 10 characters" in short.output
    assert "already exists" in runner.invoke(cli, ["reviewers", "create", "--email", "sam@example.com",
                                                   "--password", "long enough pw"]).output
