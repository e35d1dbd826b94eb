"""The savings report on a hand-computed ledger: every grouping to the cent, levers adding up exactly.

Prices (default policy, USD per million tokens): Haiku 1/5, Sonnet 3/15, Opus 5/25; cache write 1.25x
input, cache read 0.1x input, batch 0.5x. Baseline: Sonnet, plain price, answer attempts only.

The ledger (May and June 2026; request G lies outside the window):

A  classification  05-03 key1 leads    Haiku answer, in 100,000 out 20,000
     cost 0.10 + 0.10 = 0.20; baseline 0.30 + 0.30 = 0.60; routing 0.40
B  support_reply   05-10 key1 support  Sonnet answer, in 20,000, cache write 100,000, out 10,000
     cost 0.06 + 0.375 + 0.15 = 0.585; baseline (120,000 x 3 + 10,000 x 15) / 1e6 = 0.51
     routing 0.51 - 0.51 = 0; caching 0.51 - 0.585 = -0.075 (a cache write costs more than plain input)
C  support_reply   05-10 key2 support  Sonnet answer, in 20,000, cache read 100,000, out 10,000
     cost 0.06 + 0.03 + 0.15 = 0.24; baseline 0.51; caching 0.27
D  classification  06-02 key2 leads    Haiku batch answer, in 200,000, cache read 100,000, out 40,000
     plain 0.30 + 0.20 = 0.50; with cache 0.20 + 0.01 + 0.20 = 0.41; billed 0.205
     baseline 0.90 + 0.60 = 1.50; routing 1.00, caching 0.09, batch 0.205
E  extraction      06-15 key1 (none)   escalation chain, escalated:
     router Haiku in 2,000 out 200 = 0.003; retry Haiku in 10,000 out 2,000 (json failed) = 0.02, twice;
     escalation Sonnet in 12,000 out 2,000 (self-check failed) = 0.066; self_check Haiku in 3,000 out 100
     = 0.0035; answer Opus in 14,000 out 2,000 = 0.12 with baseline 0.042 + 0.03 = 0.072
     cost 0.2325; routing 0.072 - 0.12 = -0.048; overhead 0.1125; saving -0.1605
F  classification  06-20 key1 leads    failed before any model call: a request, no money
G  classification  04-30 23:59 UTC     Haiku answer (outside the window)

Window totals: cost 1.4625, baseline 3.192, saving 1.7295 (54.18%)
             = routing 1.352 + caching 0.285 + batch 0.205 - overhead 0.1125.
"""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from app.policy import load_policy
from app.pricing import Usage
from app.reports import parse_period, savings_report
from app.store import ApiKey, Attempt, Request

D = Decimal
POLICY = load_policy(None)
PRICES = POLICY.prices
WINDOW = ("2026-05", "2026-06")


def at(day: str, time: str = "12:00") -> datetime:
    return datetime.fromisoformat(f"2026-{day}T{time}:00+00:00")


def call(purpose, tier, model, tokens_in, tokens_out, *, cache_read=0, cache_write=0, batch=False, ok=True, gate=None,
         latency_ms=100.0):
    """An attempt row priced the way the cascade prices it (baseline only for answers)."""
    usage = Usage(tokens_in, tokens_out, cache_write, cache_read)
    return Attempt(purpose=purpose, tier=tier, model=model, ok=ok, gate=gate, input_tokens=tokens_in,
                   output_tokens=tokens_out, cache_read_tokens=cache_read, cache_write_tokens=cache_write, batch=batch,
                   cost_usd=PRICES.cost(model, usage, batch=batch),
                   baseline_cost_usd=PRICES.plain_cost(POLICY.baseline_model, usage) if purpose == "answer" else D(0),
                   latency_ms=latency_ms)


def add_request(session, created_at, task_type, key_id, workflow, attempts, **fields) -> Request:
    for seq, attempt in enumerate(attempts):
        attempt.seq = seq
    answer = [attempt for attempt in attempts if attempt.purpose == "answer"]
    request = Request(kind=fields.pop("kind", "fallback"), created_at=created_at, api_key_id=key_id, task_type=task_type,
                      tier=answer[0].tier if answer else None, model=answer[0].model if answer else None,
                      status=fields.pop("status", "done"), payload={}, workflow=workflow,
                      cost_usd=sum((attempt.cost_usd for attempt in attempts), D(0)),
                      baseline_cost_usd=sum((attempt.baseline_cost_usd for attempt in answer), D(0)),
                      attempts=attempts, **fields)
    session.add(request)
    return request


def build_ledger(session) -> tuple[int, int]:
    """Insert requests A-G; returns the two API key ids."""
    key1 = ApiKey(name="n8n-prod", prefix="tg_aaaa", key_hash="1" * 64, scopes="fallback")
    key2 = ApiKey(name="make-leads", prefix="tg_bbbb", key_hash="2" * 64, scopes="fallback")
    session.add_all([key1, key2])
    session.flush()
    haiku, sonnet, opus = (POLICY.model_for(tier) for tier in ("tier1", "tier2", "tier3"))
    add_request(session, at("05-03"), "classification", key1.id, "leads",
                [call("answer", "tier1", haiku, 100_000, 20_000)], latency_ms=400.0)
    add_request(session, at("05-10"), "support_reply", key1.id, "support",
                [call("answer", "tier2", sonnet, 20_000, 10_000, cache_write=100_000)], needs_review=True,
                latency_ms=3000.0)
    add_request(session, at("05-10", "12:03"), "support_reply", key2.id, "support",
                [call("answer", "tier2", sonnet, 20_000, 10_000, cache_read=100_000)], needs_review=True,
                latency_ms=2000.0)
    add_request(session, at("06-02"), "classification", key2.id, "leads",
                [call("answer", "tier1", haiku, 200_000, 40_000, cache_read=100_000, batch=True)], batch=True,
                latency_ms=60_000.0)
    add_request(session, at("06-15"), "extraction", key1.id, None, [
        call("router", "tier1", haiku, 2_000, 200),
        call("retry", "tier1", haiku, 10_000, 2_000, ok=False, gate="json"),
        call("retry", "tier1", haiku, 10_000, 2_000, ok=False, gate="json"),
        call("escalation", "tier2", sonnet, 12_000, 2_000, ok=False, gate="self_check"),
        call("self_check", "tier1", haiku, 3_000, 100),
        call("answer", "tier3", opus, 14_000, 2_000),
    ], escalated=True, latency_ms=9000.0)
    add_request(session, at("06-20"), "classification", key1.id, "leads", [], status="failed")
    add_request(session, datetime(2026, 4, 30, 23, 59, tzinfo=timezone.utc), "classification", key1.id, "leads",
                [call("answer", "tier1", haiku, 100_000, 20_000)])
    return key1.id, key2.id


@pytest.fixture
def ledger(app):
    with app.extensions["store"].session() as session:
        return build_ledger(session)


@pytest.fixture
def session(app):
    with app.extensions["store"].session() as session:
        yield session


def money(figures) -> tuple:
    """(requests, cost, baseline, saving, routing, caching, batch, overhead) to a hundredth of a cent."""
    def c(value):
        return value.quantize(D("0.0001"))

    levers = figures.levers
    assert figures.saving == levers.saving, "levers must add up to the saving exactly"
    return (figures.requests, c(figures.cost), c(figures.baseline), c(figures.saving), c(levers.routing),
            c(levers.caching), c(levers.batch), c(levers.overhead))


def by_key(report) -> dict:
    return {group.key: money(group) for group in report.groups}


def test_window_total_matches_the_hand_computed_ledger(ledger, session):
    report = savings_report(session, POLICY, parse_period(*WINDOW))
    assert money(report.total) == (6, D("1.4625"), D("3.1920"), D("1.7295"), D("1.3520"), D("0.2850"), D("0.2050"),
                                   D("0.1125"))
    assert report.total.saving_pct == D("54.18")
    # Exact, not approximately: the ledger has 8 decimal places and the levers telescope.
    assert report.total.saving == D("1.7295")
    assert report.total.levers.routing + report.total.levers.caching + report.total.levers.batch \
        - report.total.levers.overhead == report.total.baseline - report.total.cost
    assert report.unattributed == 0
    assert (report.total.input_tokens, report.total.cache_read_tokens, report.total.cache_write_tokens) == (
        20_000 + 20_000 + 200_000 + 2_000 + 10_000 + 10_000 + 12_000 + 3_000 + 14_000 + 100_000, 200_000, 100_000)


def test_grouped_by_task_type(ledger, session):
    report = savings_report(session, POLICY, parse_period(*WINDOW), "task_type")
    assert by_key(report) == {
        "classification": (3, D("0.4050"), D("2.1000"), D("1.6950"), D("1.4000"), D("0.0900"), D("0.2050"), D("0")),
        "support_reply": (2, D("0.8250"), D("1.0200"), D("0.1950"), D("0"), D("0.1950"), D("0"), D("0")),
        "extraction": (1, D("0.2325"), D("0.0720"), D("-0.1605"), D("-0.0480"), D("0"), D("0"), D("0.1125")),
    }


def test_grouped_by_month(ledger, session):
    report = savings_report(session, POLICY, parse_period(*WINDOW), "month")
    assert [group.key for group in report.groups] == ["2026-05", "2026-06"]
    assert by_key(report) == {
        "2026-05": (3, D("1.0250"), D("1.6200"), D("0.5950"), D("0.4000"), D("0.1950"), D("0"), D("0")),
        "2026-06": (3, D("0.4375"), D("1.5720"), D("1.1345"), D("0.9520"), D("0.0900"), D("0.2050"), D("0.1125")),
    }


def test_grouped_by_api_key(ledger, session):
    key1, key2 = ledger
    report = savings_report(session, POLICY, parse_period(*WINDOW), "api_key")
    assert by_key(report) == {
        str(key1): (4, D("1.0175"), D("1.1820"), D("0.1645"), D("0.3520"), D("-0.0750"), D("0"), D("0.1125")),
        str(key2): (2, D("0.4450"), D("2.0100"), D("1.5650"), D("1.0000"), D("0.3600"), D("0.2050"), D("0")),
    }
    assert {group.key: group.label for group in report.groups} == {str(key1): "n8n-prod", str(key2): "make-leads"}


def test_grouped_by_workflow(ledger, session):
    report = savings_report(session, POLICY, parse_period(*WINDOW), "workflow")
    assert by_key(report) == {
        "leads": (3, D("0.4050"), D("2.1000"), D("1.6950"), D("1.4000"), D("0.0900"), D("0.2050"), D("0")),
        "support": (2, D("0.8250"), D("1.0200"), D("0.1950"), D("0"), D("0.1950"), D("0"), D("0")),
        "(none)": (1, D("0.2325"), D("0.0720"), D("-0.1605"), D("-0.0480"), D("0"), D("0"), D("0.1125")),
    }


@pytest.mark.parametrize("group_by", ["task_type", "month", "api_key", "workflow"])
def test_groups_add_up_to_the_total_in_every_grouping(ledger, session, group_by):
    report = savings_report(session, POLICY, parse_period(*WINDOW), group_by)
    for name in ("requests", "cost", "baseline"):
        assert sum(getattr(group, name) for group in report.groups) == getattr(report.total, name)
    for lever in ("routing", "caching", "batch", "overhead"):
        assert sum(getattr(group.levers, lever) for group in report.groups) == getattr(report.total.levers, lever)


def test_window_edges(ledger, session):
    everything = savings_report(session, POLICY, parse_period(None, None))
    assert everything.total.requests == 7 and everything.total.cost == D("1.6625")
    april = savings_report(session, POLICY, parse_period("2026-04-30", "2026-04-30"))
    assert (april.total.requests, april.total.cost) == (1, D("0.2"))
    may_first_half = savings_report(session, POLICY, parse_period("2026-05-01", "2026-05-10T12:01:00Z"))
    assert may_first_half.total.requests == 2


def test_request_cost_without_attempts_is_flagged_not_merged(ledger, session):
    session.add(Request(kind="classify", created_at=at("06-21"), task_type="classification", status="done", payload={},
                        cost_usd=D("0.5"), baseline_cost_usd=D("1")))
    session.flush()
    report = savings_report(session, POLICY, parse_period(*WINDOW))
    assert report.total.cost == D("1.4625") and report.unattributed == D("0.5")


def test_price_change_after_the_fact_moves_between_levers_not_the_total(ledger, session):
    cheaper = POLICY.model_copy(deep=True)
    cheaper.prices.models["claude-haiku-4-5"].input = D("0.5")
    before = savings_report(session, POLICY, parse_period(*WINDOW)).total
    after = savings_report(session, cheaper, parse_period(*WINDOW)).total
    assert (after.cost, after.baseline, after.saving) == (before.cost, before.baseline, before.saving)
    assert after.levers.saving == after.saving and after.levers.routing != before.levers.routing
