"""Every cent true under the real API's rules: 1 h cache writes, the minimum cacheable prefix, router
calls and re-runs as overhead of their task, failed is not escalated. Figures are computed by hand."""
from __future__ import annotations

import json
import time
from decimal import Decimal

from pathlib import Path

import pytest
from sqlalchemy import func, select

from app import create_app
from app.api.auth import create_key

from app.config import load_settings
from app.policy import load_policy
from app.providers.anthropic import AnthropicProvider
from app.providers.base import ModelCall
from app.reports.period import Period
from app.reports.quality import class_row, quality_report
from app.store import Attempt, Request, Review
from tests.support.fake_anthropic import Reply
from tests.test_classify import GLOSSARY
from tests.test_fallback_api import HAIKU, SONNET, app, fallback_settings, worker  # noqa: F401  (fixtures)

D = Decimal
OPUS = "claude-opus-4-7"
POLICY = load_policy("app/policy/default.yaml")
REPLY_TEXT = ("Dear Ms Doe, thank you for writing to us about your order. We have checked it: the parcel left our "
              "warehouse on Monday and should reach you by Thursday. If it has not arrived by Friday, reply to this "
              "message and we will send a replacement at once. Kind regards, the Acme team")


def provider(fake) -> AnthropicProvider:
    settings = load_settings(ANTHROPIC_API_KEY="test-key", ANTHROPIC_BASE_URL=fake.url, TIERGATE_PROVIDER_MAX_RETRIES=0,
                             TIERGATE_PROVIDER_TIMEOUT_SECONDS=5)
    return AnthropicProvider.from_spec(None, settings, POLICY)


def ask(fake, model: str, prefix: str = ""):
    return provider(fake).complete(ModelCall(model=model, messages=[{"role": "user", "content": "hello"}],
                                             cached_system=prefix))


def money(value) -> Decimal:
    return D(repr(value)) if isinstance(value, float) else D(str(value))


# -- 1. 1-hour cache writes -------------------------------------------------------------------------

def test_a_one_hour_cache_write_is_priced_at_twice_the_input_price(fake_anthropic):
    fake_anthropic.script(HAIKU, Reply.ok("ok", 10, 200, cache_write_tokens=5000, cache_write_1h_tokens=5000))
    usage = ask(fake_anthropic, HAIKU).usage
    # 10 x $1 + 5,000 x $1 x 2 + 200 x $5, per million tokens (as a 5-minute write it would be $0.007260).
    assert POLICY.prices.cost(HAIKU, usage) == D("0.011010")
    assert (usage.cache_write_tokens, usage.cache_write_1h_tokens) == (5000, 5000)


def test_a_mixed_five_minute_and_one_hour_write_prices_each_part_by_its_ttl(fake_anthropic):
    fake_anthropic.script(SONNET, Reply.ok("ok", 20, 100, cache_write_tokens=5000, cache_write_1h_tokens=2000))
    usage = ask(fake_anthropic, SONNET).usage
    # 20 x $3 + 3,000 x $3 x 1.25 + 2,000 x $3 x 2 + 100 x $15, per million tokens.
    assert POLICY.prices.cost(SONNET, usage) == D("0.024810")
    assert (usage.cache_write_tokens, usage.cache_write_1h_tokens, usage.cache_write_5m_tokens) == (5000, 2000, 3000)


# -- 5. the minimum cacheable prefix ----------------------------------------------------------------

def test_a_prefix_below_the_minimum_is_not_marked_and_gets_no_cache_tokens(fake_anthropic):
    short = POLICY.task_types["classification"].prompt  # a default prompt: a few hundred tokens
    for _ in range(2):
        reply = ask(fake_anthropic, HAIKU, short)
        assert (reply.usage.cache_write_tokens, reply.usage.cache_read_tokens) == (0, 0)
    assert all(request.cached_system == [] for request in fake_anthropic.requests)
    long_prefix = short + "\n\n" + GLOSSARY  # over Haiku 4.5's 4,096 tokens
    first, second = ask(fake_anthropic, HAIKU, long_prefix), ask(fake_anthropic, HAIKU, long_prefix)
    assert fake_anthropic.requests[-1].cached_system == [long_prefix]
    assert first.usage.cache_write_tokens > 4096 and second.usage.cache_read_tokens == first.usage.cache_write_tokens


# -- 2. the router call is charged to the request ---------------------------------------------------

def test_a_hybrid_routed_request_carries_its_router_cost(client, auth, app, worker, fake_anthropic):
    fake_anthropic.script(HAIKU, Reply.ok(json.dumps({"tier": "tier2", "task_type": "unknown", "reason": "drafting",
                                                      "confidence": 0.9}), 400, 30))
    fake_anthropic.script(SONNET, Reply.ok("A short answer to the question.", 100, 50))
    response = client.post("/v1/fallback", headers=auth, json={
        "text": "Our bakery opens a second shop in June. Can you help us announce it nicely?", "mode": "hybrid",
        "metadata": {"workflow": "wf-h"}})
    body = response.get_json()
    assert response.status_code == 200, body
    # Router: 400 x $1 + 30 x $5 = $0.00055; answer on Sonnet: 100 x $3 + 50 x $15 = $0.00105.
    assert (body["cost_usd"], body["baseline_cost_usd"]) == (0.0016, 0.00105)
    assert body["own_cost_usd"] == 0.00105
    assert body["saving_usd"] == -0.00055 and body["overhead"]["cost_usd"] == 0.00055
    job = client.get(f"/v1/jobs/{body['request_id']}", headers=auth).get_json()["result"]
    assert job["cost_usd"] == 0.0016
    with app.extensions["store"].session() as session:
        router = session.scalars(select(Request).where(Request.kind == "route")).one()
        task = session.get(Request, body["request_id"])
        assert (router.parent_request_id, router.api_key_id, router.workflow) == (task.id, task.api_key_id, "wf-h")
    report = client.get("/v1/reports/savings?group_by=workflow", headers=auth).get_json()
    (group,) = report["groups"]
    assert (group["key"], group["requests"], group["cost_usd"], group["baseline_cost_usd"]) == (
        "wf-h", 1, 0.0016, 0.00105)
    assert report["attribution"]["overhead_usd"] == 0.00055


# -- 3. a re-run is overhead of the original task ---------------------------------------------------

def test_a_rerun_is_overhead_of_the_original_task(client, app, worker, make_key, fake_anthropic):
    keys = {"X-API-Key": make_key(["fallback", "review", "admin"])}
    fake_anthropic.script(SONNET, Reply.ok(REPLY_TEXT, 800, 200))
    fake_anthropic.script(OPUS, Reply.ok(REPLY_TEXT, 800, 200))
    first = client.post("/v1/fallback", headers=keys, json={
        "task_type": "support_reply", "text": "Where is my order 1234?", "metadata": {"workflow": "wf-r"}}).get_json()
    assert first["status"] == "needs_review" and first["cost_usd"] == 0.0054  # 800 x $3 + 200 x $15
    decided = client.post(f"/v1/reviews/{first['review_id']}/decision", headers=keys, json={"action": "rerun"})
    assert decided.status_code == 200, decided.get_json()
    with app.extensions["store"].session() as session:
        deadline = time.monotonic() + 30
        while session.scalar(select(func.count()).select_from(Review).where(Review.status == "pending")) == 0:
            assert time.monotonic() < deadline, "the re-run did not finish"
            time.sleep(0.1)
            session.expire_all()
    report = client.get("/v1/reports/savings?group_by=workflow", headers=keys).get_json()
    (group,) = report["groups"]
    # The re-run on Opus: 800 x $5 + 200 x $25 = $0.009, overhead of the first task (one request, one baseline).
    assert (group["key"], group["requests"], group["cost_usd"], group["baseline_cost_usd"], group["saving_usd"]) == (
        "wf-r", 1, 0.0144, 0.0054, -0.009)
    assert report["attribution"]["overhead_usd"] == 0.009
    job = client.get(f"/v1/jobs/{first['request_id']}", headers=keys).get_json()["result"]
    assert job["cost_usd"] == 0.0144 and job["overhead"]["items"][0]["kind"] == "rerun"
    with app.extensions["store"].session() as session:
        rerun = session.scalars(select(Request).where(Request.kind == "rerun")).one()
        assert (rerun.parent_request_id, rerun.workflow, rerun.tier) == (first["request_id"], "wf-r", "tier3")
        assert {(a.purpose, money(a.baseline_cost_usd)) for a in rerun.attempts} == {("rerun", D(0))}


# -- 4. failed is not escalated ---------------------------------------------------------------------

@pytest.fixture
def next_tier_app(tmp_path, redis_url, database_url, redis_conn, fake_anthropic):
    """Tiers that hand a provider error to the next tier at once (no waiting out the outage)."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(Path("app/policy/default.yaml").read_text().replace(
        "{model: claude-", "{on_provider_error: next_tier, model: claude-"))
    application = create_app(fallback_settings(tmp_path, redis_url, database_url, fake_anthropic,
                                               TIERGATE_POLICY=str(policy)), migrate=False)
    yield application
    application.extensions["store"].dispose()


def test_a_job_that_failed_on_every_tier_is_failed_not_escalated(next_tier_app, make_key, fake_anthropic):
    app = next_tier_app
    for model in (HAIKU, SONNET, OPUS):
        fake_anthropic.script(model, Reply.server_error())
    with app.extensions["store"].session() as session:
        _key, plain = create_key(session, "test", ["fallback"])
    body = app.test_client().post("/v1/fallback", headers={"X-API-Key": plain}, json={
        "task_type": "classification", "text": "Acme GmbH: B2B or B2C?"}).get_json()
    assert body["status"] == "failed" and body["cost_usd"] == 0.0
    with app.extensions["store"].session() as session:
        report = quality_report(session, POLICY, Period(None, None))
    (row,) = [class_row(entry) for entry in report.classes if entry.task_type == "classification"]
    assert (row["requests"], row["escalation_pct"]) == (1, 0.0)
    assert row["failed"] == 1
