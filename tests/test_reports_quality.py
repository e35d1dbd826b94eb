"""Per-class quality: cost per request, escalation bands, format success, reviews, latency, suggestions."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from app.reports import escalation_band, parse_period, quality_report
from app.reports.quality import percentile
from app.store import Request, Review
from tests.test_reports_ledger import POLICY, add_request, at, call

D = Decimal
HAIKU, SONNET = POLICY.model_for("tier1"), POLICY.model_for("tier2")


def escalated_chain(gate: str) -> list:
    """Tier 1 fails a format gate, its retry fails too, tier 2 answers."""
    return [call("retry", "tier1", HAIKU, 1000, 100, ok=False, gate=gate),
            call("retry", "tier1", HAIKU, 1000, 100, ok=False, gate=gate),
            call("answer", "tier2", SONNET, 1100, 100)]


@pytest.fixture
def ledger(app):
    with app.extensions["store"].session() as session:
        for index in range(5):
            add_request(session, at("05-02") + timedelta(minutes=index), "extraction", None, None,
                        escalated_chain("json"), escalated=True, latency_ms=5000.0 + index)
        for index in range(10):
            attempts = ([call("retry", "tier1", HAIKU, 1000, 100, ok=False, gate="label_in_set"),
                         call("answer", "tier2", SONNET, 1000, 100)] if index == 0
                        else [call("answer", "tier1", HAIKU, 1000, 100)])
            if index == 1:  # a provider failure is not a format failure and not an answer
                attempts.insert(0, call("retry", "tier1", HAIKU, 0, 0, ok=False, gate="provider"))
            add_request(session, at("05-03") + timedelta(minutes=index), "classification", None, None, attempts,
                        escalated=index == 0, latency_ms=100.0 * (index + 1))
        for index in range(4):
            add_request(session, at("05-04"), "summary", None, None,
                        escalated_chain("non_empty") if index else [call("answer", "tier2", SONNET, 1000, 100)],
                        escalated=index > 0)
        reply = [add_request(session, at("05-05"), "support_reply", None, None, [call("answer", "tier2", SONNET, 1000, 300)],
                             needs_review=True, latency_ms=2500.0) for _ in range(2)]
        # A /v1/route call in llm mode: its router call costs money but it is not a task.
        add_request(session, at("05-06"), "classification", None, None, [call("router", "tier1", HAIKU, 500, 50)],
                    kind="route")
        session.flush()
        for request, minutes, status in ((reply[0], 3.0, "approved"), (reply[1], 4.5, "approved"), (reply[1], None, "pending")):
            session.add(Review(request_id=request.id, task_type="support_reply", status=status, minutes_spent=minutes,
                               created_at=at("05-05")))
        for index in range(20):
            session.add(Review(kind="audit", task_type="classification", status="approved", created_at=at("05-20"),
                               audit_month="2026-05", audit_class="classification", audit_correct=index >= 2))
    return None


def report(app):
    with app.extensions["store"].session() as session:
        return quality_report(session, POLICY, parse_period("2026-05", "2026-05"))


def test_per_class_figures(app, ledger):
    classes = {entry.task_type: entry for entry in report(app).classes}
    extraction = classes["extraction"]
    assert (extraction.requests, extraction.escalation_pct, extraction.escalation_band) == (5, 100.0, "start_higher")
    assert extraction.format_success_pct == pytest.approx(100 * 5 / 15, abs=0.01)  # 10 of 15 task attempts failed json
    # Each: 2 Haiku tries (1,000 in, 100 out = 0.0015) + Sonnet (1,100 x 3 + 100 x 15 = 0.0048) = 0.0078.
    assert extraction.cost == D("0.039") and extraction.cost_per_request == D("0.0078")

    classification = classes["classification"]
    assert classification.requests == 10  # the router-only row is not a task...
    # ...but its cost is the class's: 9 x 0.0015 + (0.0015 + 0.0045) + router (500 + 250) / 1e6 = 0.02025
    assert classification.cost == D("0.02025")
    assert (classification.escalation_pct, classification.escalation_band) == (10.0, "good")
    assert classification.format_success_pct == pytest.approx(100 * 10 / 11, abs=0.01)  # provider failure excluded
    assert (classification.p50_ms, classification.p95_ms) == (500.0, 1000.0)
    assert (classification.audited, classification.audit_wrong_pct, classification.audit_recommendation) == (
        20, 10.0, "adjust_prompt")

    summary = classes["summary"]
    assert (summary.escalation_pct, summary.escalation_band) == (75.0, "start_higher")

    reply = classes["support_reply"]
    assert (reply.review_pct, reply.reviews_decided, reply.correction_minutes) == (100.0, 2, 7.5)
    assert reply.escalation_band == "good" and reply.format_success_pct == 100.0


def test_suggests_starting_always_escalating_classes_one_tier_higher(app, ledger):
    suggestions = report(app).suggestions
    # summary escalates 75% too, but 4 requests are too few to move a class on.
    assert [(item.task_type, item.from_tier, item.to_tier, item.always) for item in suggestions] == [
        ("extraction", "tier1", "tier2", True)]
    assert suggestions[0].message == ("extraction always escalates: start it one tier higher (tier1 -> tier2) "
                                      "in the policy.")


@pytest.mark.parametrize("pct, band", [(0, "good"), (19.99, "good"), (20, "normal"), (60, "normal"),
                                       (60.01, "start_higher"), (100, "start_higher")])
def test_escalation_bands(pct, band):
    assert escalation_band(pct) == band


def test_percentile_is_nearest_rank():
    assert percentile([], 95) is None
    assert percentile([7.0], 50) == 7.0
    values = [float(v) for v in range(1, 21)]
    assert (percentile(values, 50), percentile(values, 95)) == (10.0, 19.0)


def test_route_rows_do_not_count_as_requests_in_savings(app, ledger):
    savings = report(app).savings
    assert savings.total.requests == 5 + 10 + 4 + 2
    with app.extensions["store"].session() as session:
        assert session.query(Request).count() == 22
