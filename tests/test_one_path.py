"""One path for every task: every entry point through the one intake, every paid call through the guards.

The table of paths x guards, and where each cell is tested ("-": the path takes no such guard). The
gateway rows use the official SDKs against Tiergate on a real socket; the crash rows SIGKILL real
gunicorn / worker processes.

| path                        | idempotency            | budget reserve/settle   | 402 on a spent refuse   | breaker                 | in-flight note + rescue   | attempt row | metrics |
|-----------------------------|------------------------|-------------------------|-------------------------|-------------------------|---------------------------|-------------|---------|
| fallback sync / async       | test_fallback_api      | test_budgets            | test_budgets            | test_execution (breaker)| test_execution (SIGKILL)  | test_fallback_api | here: model_calls |
| classify list chunk         | test_classify          | test_money, here: chunk | here: classify 402      | here: chunk breaker     | test_classify_jobs (kill) | test_classify | here |
| gateway plain (OpenAI SDK)  | here: replay           | here: booked            | here: 402 OpenAI        | test_gateway_live       | here: web SIGKILL         | here | here |
| gateway plain (Anthropic)   | here: replay stream    | here                    | here: 402 Anthropic     | (same path)             | (same path)               | here | here |
| gateway stream, gated       | here: replay stream    | here                    | here: 402 before stream | (cascade)               | (same path)               | here | here |
| gateway stream, live        | - (replay is gated)    | here: live booked       | here: 402 before stream | here: open -> gated     | here: note cleared        | here | here |
| LLM router                  | -                      | (money issue)           | -                       | here: router breaker    | -                         | test_llm_router | here |
| shadow / judge              | -                      | (money issue)           | -                       | (guards)                | -                         | test_shadow | (guards) |
| reviewer re-run             | -                      | test_review_rerun       | -                       | (cascade)               | here: rerun rescued       | test_review_rerun | (guards) |
| sweeper window              | -                      | -                       | -                       | -                       | here: unhandled kinds     | -           | -       |
"""
from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from decimal import Decimal

import httpx2 as httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from app.api.auth import create_key
from app.execution import lifecycle, sweeper
from app.execution.inflight import IN_FLIGHT_KEY
from app.web.context import runtime_of
from app.money.budgets import set_budget
from app.store import Attempt, Request, utcnow
from app.store.models import Budget
from app.tasks import runner
from tests.support.fake_anthropic import FakeAnthropic, Reply
from tests.support.gateway_app import (app, fake_openai, gateway_key, gateway_policy, ledger,  # noqa: F401
                                       server)

HAIKU, SONNET = "claude-haiku-4-5", "claude-sonnet-4-6"
HELLO = [{"role": "user", "content": "Say hello to Ada"}]


def _key(app, scopes=("gateway",), budget: Decimal | None = None) -> tuple[int, str]:
    with app.extensions["store"].session() as session:
        key, plain = create_key(session, "one-path", list(scopes))
        if budget is not None:
            set_budget(session, "api_key", str(key.id), budget, action="refuse")
        return key.id, plain


def _counting_openai(server, key, counter: list):
    from openai import OpenAI

    http = httpx.Client(event_hooks={"request": [lambda request: counter.append(request.url.path)]})
    return OpenAI(base_url=server + "/v1", api_key=key, max_retries=2, timeout=20, http_client=http)


def _counting_anthropic(server, key, counter: list):
    from anthropic import Anthropic

    http = httpx.Client(event_hooks={"request": [lambda request: counter.append(request.url.path)]})
    return Anthropic(base_url=server, api_key=key, max_retries=2, timeout=20, http_client=http)


def _rows(app, kind: str) -> list[Request]:
    with app.extensions["store"].session() as session:
        return session.scalars(select(Request).where(Request.kind == kind)).all()


def _spent(app, key_id: int) -> Decimal:
    with app.extensions["store"].session() as session:
        budget = session.scalars(select(Budget).where(Budget.scope == "api_key", Budget.subject == str(key_id))).one()
        return Decimal(str(budget.spent_usd)), Decimal(str(budget.reserved_usd))


def _metric(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# -- idempotency on the gateway ---------------------------------------------------------------------
def test_a_repeated_idempotency_key_on_chat_completions_pays_once_and_replays_the_answer(app, server, fake_anthropic):
    _key_id, key = _key(app)
    sent: list = []
    client = _counting_openai(server, key, sent)
    headers = {"Idempotency-Key": "n8n-retry-1"}
    first = client.chat.completions.with_raw_response.create(model="tiergate/auto", messages=HELLO,
                                                            extra_headers=headers)
    again = client.chat.completions.with_raw_response.create(model="tiergate/auto", messages=HELLO,
                                                            extra_headers=headers)

    assert again.parse().choices[0].message.content == first.parse().choices[0].message.content
    assert again.parse().id == first.parse().id
    assert again.headers["idempotent-replayed"] == "true"
    assert len(fake_anthropic.requests) == 1  # one model call for the two requests
    assert len(_rows(app, "gateway")) == 1  # one ledger request


def test_a_repeated_idempotency_key_replays_a_stream_in_the_anthropic_format(app, server, fake_anthropic):
    _key_id, key = _key(app)
    client = _counting_anthropic(server, key, [])
    texts = []
    for _ in range(2):
        with client.messages.stream(model="tiergate/auto", max_tokens=200, messages=HELLO,
                                    extra_headers={"Idempotency-Key": "zap-7"}) as stream:
            texts.append("".join(stream.text_stream))
    assert texts[0] == texts[1] == "Fake answer: Say hello to Ada"
    assert len(fake_anthropic.requests) == 1 and len(_rows(app, "gateway")) == 1


def test_the_same_idempotency_key_with_another_body_is_a_409_the_sdk_does_not_retry(app, server, fake_anthropic):
    from openai import APIStatusError

    _key_id, key = _key(app)
    sent: list = []
    client = _counting_openai(server, key, sent)
    client.chat.completions.create(model="tiergate/auto", messages=HELLO, extra_headers={"Idempotency-Key": "k"})
    with pytest.raises(APIStatusError) as refused:
        client.chat.completions.create(model="tiergate/auto", messages=[{"role": "user", "content": "Other"}],
                                       extra_headers={"Idempotency-Key": "k"})
    assert refused.value.status_code == 409
    assert refused.value.body["code"] == "idempotency_conflict"
    assert len(sent) == 2  # no automatic retry of the 409
    assert len(fake_anthropic.requests) == 1


# -- budgets on the gateway -------------------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True])
def test_a_spent_refuse_budget_is_a_402_in_openais_format_before_any_model_call(app, server, fake_anthropic, stream):
    from openai import APIStatusError

    key_id, key = _key(app, budget=Decimal("0.000001"))
    sent: list = []
    client = _counting_openai(server, key, sent)
    with pytest.raises(APIStatusError) as refused:
        answer = client.chat.completions.create(model="tiergate/auto", messages=HELLO, stream=stream)
        list(answer) if stream else None
    error = refused.value
    assert error.status_code == 402
    assert error.body["type"] == "insufficient_quota" and error.body["code"] == "budget_exhausted"
    assert f"budget of API key {key_id}" in error.body["message"] or "budget" in error.body["message"]
    assert error.response.headers["x-should-retry"] == "false"
    assert len(sent) == 1  # the SDK did not retry: a 402 is not a broken upstream
    assert fake_anthropic.requests == []
    assert _rows(app, "gateway") == []  # refused before it was stored


@pytest.mark.parametrize("stream", [False, True])
def test_a_spent_refuse_budget_is_a_402_in_anthropics_format(app, server, fake_anthropic, stream):
    from anthropic import APIStatusError

    _key_id, key = _key(app, budget=Decimal("0.000001"))
    sent: list = []
    client = _counting_anthropic(server, key, sent)
    with pytest.raises(APIStatusError) as refused:
        if stream:
            with client.messages.stream(model="tiergate/auto", max_tokens=100, messages=HELLO) as events:
                list(events)
        else:
            client.messages.create(model="tiergate/auto", max_tokens=100, messages=HELLO)
    assert refused.value.status_code == 402
    assert refused.value.body["type"] == "error" and refused.value.body["error"]["type"] == "billing_error"
    assert "budget" in refused.value.body["error"]["message"]
    assert len(sent) == 1 and fake_anthropic.requests == []


def test_a_gateway_call_is_booked_on_the_keys_budget(app, server, fake_anthropic):
    key_id, key = _key(app, budget=Decimal("10"))
    client = _counting_openai(server, key, [])
    raw = client.chat.completions.with_raw_response.create(model="tiergate/auto", messages=HELLO)
    row = ledger(app, raw.headers["x-tiergate-request-id"])
    spent, reserved = _spent(app, key_id)
    assert row.cost_usd > 0 and spent == row.cost_usd.quantize(Decimal("1e-8"))
    assert reserved == 0  # the hold is settled and released


@pytest.mark.parametrize("gateway_policy", ["live"], indirect=True)
def test_a_live_stream_goes_through_the_guards_booked_noted_and_counted(app, server, fake_anthropic, redis_conn):
    key_id, key = _key(app, budget=Decimal("10"))
    client = _counting_openai(server, key, [])
    calls_before = _metric("tiergate_model_calls_total", model=SONNET, outcome="ok")
    with client.chat.completions.with_streaming_response.create(model="tiergate/tier2", messages=HELLO,
                                                                stream=True) as response:
        request_id = response.headers["x-tiergate-request-id"]
        assert response.headers["x-tiergate-stream"] == "live"
        # While the answer streams, the paid call is noted in Redis for a rescuer.
        lines = response.iter_lines()
        next(lines)
        assert redis_conn.exists(IN_FLIGHT_KEY.format(request_id))
        chunks = [json.loads(line[len("data: "):]) for line in lines if line.startswith("data: {")]
    text = "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in chunks if chunk["choices"])
    assert text.endswith("Say hello to Ada")
    row = ledger(app, request_id)
    (attempt,) = row.attempts
    assert (row.status, attempt.purpose, attempt.ok) == ("done", "answer", True)
    spent, reserved = _spent(app, key_id)
    assert attempt.cost_usd > 0 and spent == attempt.cost_usd.quantize(Decimal("1e-8")) and reserved == 0
    assert not redis_conn.exists(IN_FLIGHT_KEY.format(request_id))  # in the ledger now
    assert _metric("tiergate_model_calls_total", model=SONNET, outcome="ok") == calls_before + 1
    assert _metric("tiergate_cost_usd_total", model=SONNET) > 0


@pytest.mark.parametrize("gateway_policy", ["live"], indirect=True)
def test_a_live_stream_on_a_spent_budget_is_refused_before_it_starts(app, server, fake_anthropic):
    from openai import APIStatusError

    _key_id, key = _key(app, budget=Decimal("0.000001"))
    client = _counting_openai(server, key, [])
    with pytest.raises(APIStatusError) as refused:
        list(client.chat.completions.create(model="tiergate/tier2", messages=HELLO, stream=True))
    assert refused.value.status_code == 402 and fake_anthropic.requests == []


@pytest.mark.parametrize("gateway_policy", ["live"], indirect=True)
def test_a_live_stream_whose_circuit_is_open_goes_down_the_gated_path(app, server, fake_anthropic):
    rt = runtime_of(app)
    for _ in range(rt.settings.cooldown_failures):
        rt.breaker.record_failure(SONNET)  # Sonnet's circuit is open
    _key_id, key = _key(app)
    client = _counting_openai(server, key, [])
    with client.chat.completions.with_streaming_response.create(model="tiergate/tier2", messages=HELLO,
                                                                stream=True) as response:
        assert "x-tiergate-stream" not in response.headers  # not live: the cascade decides what to do
        request_id = response.headers["x-tiergate-request-id"]
        "".join(response.iter_lines())
    assert ledger(app, request_id).status == "done"  # the cascade waited for the circuit's probe
    # No stream was opened on the open circuit: the only call is the gated path's plain one.
    assert [sent.body.get("stream") for sent in fake_anthropic.requests] in ([None], [False])


# -- the classify chunk through the guards --------------------------------------------------------
def test_a_list_on_a_spent_refuse_budget_is_a_402(app, server, fake_anthropic):
    import requests

    _key_id, key = _key(app, scopes=("classify",), budget=Decimal("0.000001"))
    answer = requests.post(server + "/v1/classify", headers={"X-API-Key": key}, timeout=10,
                           json={"task_type": "list_classification", "items": ["Acme GmbH", "Jane Doe"],
                                 "labels": ["B2B", "B2C"]})
    assert answer.status_code == 402 and answer.json()["error"]["field"] == "budget"
    assert fake_anthropic.requests == []


def test_model_calls_and_cost_are_counted_per_model(app, server, fake_anthropic):
    import requests

    models = (HAIKU, SONNET, "claude-opus-4-7")
    _key_id, key = _key(app, scopes=("fallback",))
    calls = {m: _metric("tiergate_model_calls_total", model=m, outcome="ok") for m in models}
    cost = {m: _metric("tiergate_cost_usd_total", model=m) for m in models}
    answer = requests.post(server + "/v1/fallback", headers={"X-API-Key": key}, timeout=20,
                           json={"task_type": "classification", "text": "Acme GmbH: B2B or B2C?"})
    assert answer.status_code == 200
    attempts = answer.json()["attempts"]
    for model in models:
        made = [a for a in attempts if a["model"] == model]
        assert _metric("tiergate_model_calls_total", model=model, outcome="ok") == calls[model] + len(made)
        assert _metric("tiergate_cost_usd_total", model=model) == pytest.approx(
            cost[model] + sum(a["cost_usd"] for a in made))


# -- rescue by kind -------------------------------------------------------------------------------
def _overdue(app, **values) -> str:
    with app.extensions["store"].session() as session:
        row = Request(status=lifecycle.RUNNING, owner="dead-host:1", lease_until=utcnow() - timedelta(minutes=5),
                      progress_total=1, **values)
        session.add(row)
        session.flush()
        return row.id


def test_the_sweepers_window_is_never_filled_by_rows_it_does_not_handle(app, redis_conn):
    rt = runtime_of(app)
    stale = utcnow() - timedelta(minutes=10)
    with app.extensions["store"].session() as session:  # 600 overdue rows of a kind nobody resumes
        session.add_all([Request(kind="route", task_type="summary", tier="tier1", status=lifecycle.RUNNING,
                                 owner="gone:1", lease_until=stale, payload={},
                                 progress_total=1) for _ in range(600)])
    payload = {"text": "Meeting notes", "decision": {"tier": "tier1", "model": HAIKU, "task_type": "summary",
                                                     "review_reasons": []}}
    fallback_id = _overdue(app, kind="fallback", task_type="summary", tier="tier1", payload=payload)
    done = sweeper.sweep(rt)
    assert done["rescued"] == 1
    assert runtime_of(app).job_queue.queue.fetch_job(fallback_id) is not None


@pytest.mark.parametrize("kind", ["gateway", "rerun"])
def test_a_gateway_or_rerun_row_left_by_a_dead_process_is_finished_once(app, fake_anthropic, kind):
    rt = runtime_of(app)
    payload = {"text": "user: Say hello to Ada", "messages": HELLO, "risk": "low", "external": False,
               "decision": {"id": None, "tier": "tier1", "model": HAIKU, "task_type": "summary", "review_reasons": []}}
    if kind == "gateway":
        payload["chat"] = {"system": "", "gates": [{"name": "non_empty"}], "json_output": False, "pinned": False}
    else:
        payload[runner.RERUN_OF] = "req_original"
    request_id = _overdue(app, kind=kind, task_type="summary", tier="tier1", payload=payload)

    assert sweeper.sweep(rt)["rescued"] == 1
    answer = runner.run_job(rt, request_id)  # what the worker's job does
    assert answer["status"] == "done"
    assert runner.run_job(rt, request_id)["status"] == "done"  # a second run finds it finished
    with app.extensions["store"].session() as session:
        row = session.get(Request, request_id)
        attempts = session.scalars(select(Attempt).where(Attempt.request_id == request_id)).all()
    assert row.status == "done" and row.owner is None
    assert len(attempts) == 1 and len(fake_anthropic.requests) == 1
    assert attempts[0].purpose == ("rerun" if kind == "rerun" else "answer")


# -- a gateway call whose web process dies mid-call (real processes) ----------------------------------
@pytest.fixture
def slow_stack(tmp_path, redis_url, database_url, redis_conn):
    from tests.test_execution import Stack
    from tests.test_fallback_api import fallback_settings
    from app import create_app

    with FakeAnthropic(latency_seconds=3.0) as fake:
        settings = fallback_settings(tmp_path, redis_url, database_url, fake, TIERGATE_SYNC_WAIT_SECONDS=15,
                                     TIERGATE_PROVIDER_TIMEOUT_SECONDS=30)
        app = create_app(settings, migrate=False)
        with app.extensions["store"].session() as session:
            _key, plain = create_key(session, "sdk", ["gateway"])
        started: list = []
        yield Stack(settings, app, plain, None, started, redis_conn, fake)
        for process in reversed(started):
            process.stop()
        app.extensions["store"].dispose()


def test_a_gateway_call_whose_web_process_is_killed_is_finished_by_a_worker_once(slow_stack):
    from openai import OpenAI

    stack = slow_stack
    server = stack.web()

    def call():
        with OpenAI(base_url=server.url + "/v1", api_key=stack.auth, max_retries=0, timeout=30) as client:
            try:
                client.chat.completions.create(model="tiergate/tier1", messages=HELLO)
            except Exception:  # the server dies under the call
                pass

    caller = threading.Thread(target=call)
    caller.start()
    stack.wait_for(lambda: len(stack.fake.requests) == 1, 30, "the model call")
    server.kill()
    caller.join()
    stack.fake.latency_seconds = 0.0
    stack.worker()
    (row_id,) = [row.id for row in _rows(stack.app, "gateway")]
    stack.wait_for(lambda: stack.row(row_id).status == "done", 150, "a worker to finish the gateway call")
    time.sleep(2)
    with stack.app.extensions["store"].session() as session:
        attempts = session.scalars(select(Attempt).where(Attempt.request_id == row_id).order_by(Attempt.seq)).all()
    # The call lost with the web process is booked at its estimate, then the worker's call settles the row.
    assert [(a.purpose, a.ok) for a in attempts] == [("lost", False), ("answer", True)]
    assert stack.row(row_id).cost_usd == attempts[0].cost_usd + attempts[1].cost_usd > 0
    assert len(stack.fake.requests) == 2


def test_a_probe_taken_but_not_used_goes_to_the_next_caller_at_once(redis_conn):
    """A budget refusal or a spend cap after the breaker's permission must not hold the half-open
    circuit's one probe until it times out."""
    from app.providers.breaker import CircuitBreaker

    model = "probe-release-model"
    breaker = CircuitBreaker(redis_conn, failures=1, open_seconds=0.2)
    breaker.record_failure(model)  # open
    time.sleep(0.3)  # half-open: one probe may go through

    def other_caller() -> bool:
        seen: list[bool] = []
        thread = threading.Thread(target=lambda: seen.append(breaker.acquire(model)))
        thread.start()
        thread.join()
        return seen[0]

    assert breaker.acquire(model)  # this caller holds the probe
    assert other_caller() is False  # one probe at a time
    breaker.release(model)  # ... which it gives back unused
    assert other_caller() is True
