"""Budgets as a hard cap (issue 23): every call holds its upper bound before it goes out, so a ``refuse``
budget is never exceeded whatever the concurrency; batch lists, the LLM router and live streams pay only
under a hold; a ``downgrade`` budget never moves a request below its safety floor.

The fake Messages API answers every call up to its ``max_tokens`` here: the worst case a budget must hold.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from app.api.auth import create_key
from app.money.budgets import set_budget
from app.store import Request
from app.store.models import Budget, BudgetHold
from app.web.context import runtime_of
from tests.support.fake_anthropic import Reply
from tests.test_budgets import TEXT, budget_row, ledger_cost, new_key, to_max_tokens
from tests.test_fallback_api import HAIKU, app  # noqa: F401  (fixture)

D = Decimal
LIMIT = D("0.05")
# claude-haiku-4-5 in app/policy/default.yaml: $1 per million input tokens, $5 per million output tokens.
HAIKU_IN, HAIKU_OUT = D(1) / 10**6, D(5) / 10**6
TIER1_MAX_TOKENS = 1024  # the default policy's tier1 answer limit


def post_all(client, headers, bodies, workers: int = 32) -> list:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda body: client.post("/v1/fallback", headers=headers, json=body), bodies))


def spent(app, key_id: int) -> Decimal:
    return D(str(budget_row(app, key_id).spent_usd)).quantize(D("1e-8"))


def holds_left(app) -> int:
    with app.extensions["store"].session() as session:
        return session.scalar(select(func.count()).select_from(BudgetHold))


def test_80_concurrent_calls_answering_to_max_tokens_never_exceed_a_refuse_budget(client, app, fake_anthropic):
    fake_anthropic.responder = to_max_tokens
    key_id, headers = new_key(app, LIMIT)
    body = {"task_type": "classification", "text": TEXT, "exec": "sync"}
    responses = post_all(client, headers, [body] * 80)
    assert {r.status_code for r in responses} <= {200, 402}
    # By hand: each call writes 1,024 tokens at $5/M = $0.00512 of output alone, so $0.05 pays for at
    # most 9 calls (9 x $0.00512 = $0.04608; 10 would be $0.0512).
    per_call_floor = TIER1_MAX_TOKENS * HAIKU_OUT
    assert per_call_floor == D("0.00512")
    paid_calls = len(fake_anthropic.requests)
    assert 0 < paid_calls <= int(LIMIT / per_call_floor) == 9
    total = spent(app, key_id)
    assert total == ledger_cost(app, Request.api_key_id == key_id)
    assert total >= paid_calls * per_call_floor
    assert total <= LIMIT, total
    assert D(str(budget_row(app, key_id).reserved_usd)) == 0 and holds_left(app) == 0


def test_20_concurrent_calls_with_20k_tokens_of_knowledge_stay_within_the_limit(client, app, fake_anthropic):
    fake_anthropic.responder = to_max_tokens
    key_id, headers = new_key(app, LIMIT)
    knowledge = ["Acme sells pallets of industrial fasteners to distributors. " * 1360]  # 81,600 chars
    body = {"task_type": "classification", "text": TEXT, "exec": "sync", "knowledge": knowledge}
    responses = post_all(client, headers, [body] * 20, workers=20)
    assert {r.status_code for r in responses} <= {200, 402}
    # By hand: 81,600 characters are 20,400 input tokens ($0.0204 at $1/M) plus 1,024 output tokens
    # ($0.00512): every call costs at least $0.02552, so $0.05 pays for one call, never two.
    per_call_floor = 20_400 * HAIKU_IN + TIER1_MAX_TOKENS * HAIKU_OUT
    assert per_call_floor == D("0.02552")
    assert 0 < len(fake_anthropic.requests) <= int(LIMIT / per_call_floor) == 1
    total = spent(app, key_id)
    assert per_call_floor <= total <= LIMIT, total
    assert total == ledger_cost(app, Request.api_key_id == key_id)
    assert holds_left(app) == 0


def test_an_llm_mode_request_on_a_spent_budget_never_pays_the_router(client, app, fake_anthropic):
    key_id, headers = new_key(app, D("0.000001"))
    for path, body in (("/v1/fallback", {"text": TEXT, "mode": "llm", "exec": "sync"}),
                       ("/v1/route", {"text": TEXT, "mode": "llm"})):
        response = client.post(path, headers=headers, json=body)
        if path == "/v1/fallback":
            assert response.status_code == 402, response.get_json()
        else:  # routing itself is free under the rules: the router call was refused, the rules decided
            assert response.status_code == 200 and response.get_json()["router_cost_usd"] == 0
    assert fake_anthropic.requests == []  # the router model was never called
    assert spent(app, key_id) == 0 and holds_left(app) == 0


REFUND = "Customer asks for a refund of the invoice they were charged twice for."


@pytest.mark.parametrize("floor_action", ["refuse", "review"])
def test_a_downgrade_budget_never_moves_a_sensitive_request_below_its_floor(client, app, fake_anthropic,
                                                                            monkeypatch, floor_action):
    # A tier1 task type, lifted to tier2 by sensitive content (a refund); the budget has no room for tier2.
    if floor_action != "refuse":  # refuse is the default
        monkeypatch.setattr(runtime_of(app).policy().rules, "budget_floor_action", floor_action)
    key_id, headers = new_key(app, D("0.000001"), action="downgrade")
    response = client.post("/v1/fallback", headers=headers,
                           json={"task_type": "classification", "text": REFUND, "exec": "sync"})
    assert fake_anthropic.requests_for(HAIKU) == [] and fake_anthropic.requests == []  # tier1 never ran
    if floor_action == "refuse":
        assert response.status_code == 402
        error = response.get_json()["error"]
        assert error["field"] == "budget" and "never goes below tier2" in error["message"]
    else:
        answer = response.get_json()
        assert response.status_code == 200 and answer["status"] == "needs_review", answer
        assert answer["cost_usd"] == 0 and answer["review_id"]
        with app.extensions["store"].session() as session:
            row = session.scalars(select(Request).where(Request.api_key_id == key_id)).one()
            assert row.tier == "tier2" and row.model != HAIKU
            from app.store import Decision
            reasons = session.get(Decision, row.decision_id).reasons
        assert any(r["rule"] == "budget_floor" and "held for review" in r["detail"] for r in reasons)
    assert spent(app, key_id) == 0 and holds_left(app) == 0


def test_a_downgrade_budget_on_a_tier2_task_type_still_caps_spend(client, app, fake_anthropic):
    fake_anthropic.responder = to_max_tokens
    key_id, headers = new_key(app, D("0.01"), action="downgrade")
    body = {"task_type": "classification", "text": TEXT, "exec": "sync", "risk": "high"}  # floor: tier2
    responses = post_all(client, headers, [body] * 20, workers=20)
    assert {r.status_code for r in responses} <= {200, 402} and 402 in {r.status_code for r in responses}
    assert fake_anthropic.requests_for(HAIKU) == []  # never below the high-risk floor
    assert spent(app, key_id) <= D("0.01") and holds_left(app) == 0


def test_a_batched_list_over_its_budget_stops_and_leaves_no_hold(tmp_path, redis_url, database_url, redis_conn,
                                                                 fake_anthropic, monkeypatch):
    from tests.test_classify import LABELS, app_with_fake
    from tests.test_classify_batches import run_scheduled
    from tests.test_classify_jobs import run_worker

    fake_anthropic.responder = to_max_tokens
    application = app_with_fake(tmp_path, redis_url, database_url, fake_anthropic, TIERGATE_CLASSIFY_CHUNK_SIZE=5)
    try:
        with application.extensions["store"].session() as session:
            _key, plain = create_key(session, "lists", ["classify"])
            set_budget(session, "workflow", "leads", D("0.01"))
        client = application.test_client()
        items = [f"lead {n}: B2B distributor of fasteners" for n in range(60)]  # 12 chunks of 5
        response = client.post("/v1/classify", headers={"X-API-Key": plain},
                               json={"items": items, "labels": LABELS, "batch": True, "metadata": {"workflow": "leads"}})
        assert response.status_code == 202, response.get_json()
        run_worker(application, monkeypatch)
        run_scheduled(application, monkeypatch)
        with application.extensions["store"].session() as session:
            budget = session.scalars(select(Budget).where(Budget.subject == "leads")).one()
            total, reserved = D(str(budget.spent_usd)), D(str(budget.reserved_usd))
            holds = session.scalar(select(func.count()).select_from(BudgetHold))
            row = session.scalars(select(Request).where(Request.workflow == "leads")).one()
        # By hand: a chunk's answer may run to 5 items x its per-item limit; each batched request is
        # held at its upper bound x 0.5 (the batch price) before submission, so not all 12 go.
        batched = [r for r in fake_anthropic.requests if r.path == "/v1/messages/batches"]
        assert 0 < len(batched) < 12
        assert 0 < total <= D("0.01"), total
        assert reserved == 0 and holds == 0  # the batch settled: its holds are gone
        assert row.result is not None and len(row.result["results"]) == 60  # no item dropped
    finally:
        application.extensions["store"].dispose()


@pytest.fixture
def gateway_app(tmp_path, redis_url, database_url, redis_conn, fake_anthropic):
    """The drop-in gateway streaming live (policy ``gateway.stream: live``)."""
    from tests.test_classify import app_with_fake

    policy = yaml.safe_load(Path("app/policy/default.yaml").read_text())
    policy["gateway"]["stream"] = "live"
    policy_path = tmp_path / "policy.yaml"
    policy_path.write_text(yaml.safe_dump(policy, sort_keys=False))
    application = app_with_fake(tmp_path, redis_url, database_url, fake_anthropic, TIERGATE_POLICY=str(policy_path))
    yield application
    application.extensions["store"].dispose()


def test_live_streams_are_booked_on_the_budget_even_when_the_client_closes_early(gateway_app, fake_anthropic):
    from tests.support.gateway_app import ledger

    fake_anthropic.responder = lambda body: Reply.ok("The lighthouse stands on the cape. " * 60)
    key_id, headers = new_key(gateway_app, D("1"))
    client = gateway_app.test_client()
    body = {"model": "tiergate/tier1", "max_tokens": 600, "stream": True,
            "messages": [{"role": "user", "content": "Tell me about the lighthouse on the northern cape"}]}

    whole = client.post("/v1/messages", headers=headers, json=body)
    assert whole.status_code == 200 and whole.headers["x-tiergate-stream"] == "live"
    whole.get_data()
    read = ledger(gateway_app, whole.headers["x-tiergate-request-id"])
    # By hand: the answer is 2,100 characters, 525 output tokens at $5/M = $0.002625, plus its input.
    assert read.attempts[0].output_tokens == 525 and read.cost_usd > 525 * HAIKU_OUT
    assert spent(gateway_app, key_id) == D(str(read.cost_usd)).quantize(D("1e-8"))

    early = client.post("/v1/messages", headers=headers, json=body, buffered=False)
    next(iter(early.response))  # the first event, then the client goes away
    early.close()
    closed = ledger(gateway_app, early.headers["x-tiergate-request-id"])
    # Nobody saw how much the model wrote: booked at the call's upper bound, at least its 600 tokens of output.
    assert closed.cost_usd >= 600 * HAIKU_OUT == D("0.003")
    assert spent(gateway_app, key_id) == D(str(read.cost_usd + closed.cost_usd)).quantize(D("1e-8"))
    assert holds_left(gateway_app) == 0


@pytest.mark.parametrize("app", [{"TIERGATE_PROVIDER_TIMEOUT_SECONDS": 0.5}], indirect=True)
def test_a_timed_out_call_is_booked_at_its_upper_bound(client, app, fake_anthropic):
    from app.store import Attempt

    fake_anthropic.script(HAIKU, Reply.hang(1.0, text="too late"))  # the next call answers in time
    key_id, headers = new_key(app, D("1"))
    response = client.post("/v1/fallback", headers=headers,
                           json={"task_type": "classification", "text": TEXT, "exec": "sync"})
    assert response.status_code == 200, response.get_json()
    with app.extensions["store"].session() as session:
        attempts = session.scalars(select(Attempt).join(Request, Attempt.request_id == Request.id)
                                   .where(Request.api_key_id == key_id).order_by(Attempt.seq)).all()
        timed_out = [a for a in attempts if "no answer within" in (a.reason or "")]
        assert len(timed_out) == 1 and "upper bound" in timed_out[0].reason
        # By hand: the provider may have billed it in full, at least its 1,024 tokens of output at $5/M.
        assert D(str(timed_out[0].cost_usd)) >= TIER1_MAX_TOKENS * HAIKU_OUT == D("0.00512")
    assert spent(app, key_id) == ledger_cost(app, Request.api_key_id == key_id) and holds_left(app) == 0
