"""Issue 24, a lean hot path: what one sync request costs in Redis round trips, and that what it skips
(the circuits' own look-up, the in-flight note's removal on the answer's path) is not lost.

A sync request reads its key's generation, the budgets' generation and its tiers' circuits in one MGET
(``app.api.auth``), notes its model call in one pipeline (``app.execution.inflight``), and leaves the
removal of that note to a batch after its outcome is committed.
"""
from __future__ import annotations

import time

import pytest

from app.execution.inflight import FORGET_DELAY_SECONDS, IN_FLIGHT_KEY
from app.providers.breaker import SEEN_FRESH_SECONDS, CircuitBreaker, Seen, circuits_read
from tests.test_budget_view import new_key, sync_task
from tests.test_fallback_api import app, fallback_settings  # noqa: F401  (fixture)

HAIKU = "claude-haiku-4-5"


def _command_calls(redis, run) -> dict[str, int]:
    """How many times each Redis command ran (server-side counts) while ``run()`` ran."""
    before = redis.info("commandstats")
    run()
    after = redis.info("commandstats")
    return {name[len("cmdstat_"):]: stats["calls"] - before.get(name, {}).get("calls", 0)
            for name, stats in after.items() if stats["calls"] != before.get(name, {}).get("calls", 0)}


def test_a_sync_request_asks_redis_twice_and_its_note_goes_after_its_answer(app, fake_anthropic):
    client = app.test_client()
    _, headers = new_key(app)
    assert client.post("/v1/fallback", headers=headers, json=sync_task()).status_code == 200  # warm
    redis = app.extensions["runtime"].redis
    time.sleep(FORGET_DELAY_SECONDS + 0.2)  # the warm-up's note is removed (with no next note, on its own)
    answers, called = [], len(fake_anthropic.requests)
    calls = _command_calls(redis, lambda: answers.append(client.post("/v1/fallback", headers=headers,
                                                                     json=sync_task())))
    assert answers[0].status_code == 200, answers[0].get_json()
    model_calls = fake_anthropic.requests[called:]
    # One MGET (key, budgets, circuits), one pipeline per model call for its in-flight note (HSET +
    # EXPIRE): no EXISTS for the circuit, no DEL of the note before the answer.
    assert calls.get("mget") == 1 and calls.get("hset") == calls.get("expire") == len(model_calls), (calls, model_calls)
    assert not {"exists", "pttl", "get", "del", "unlink"} & set(calls), calls
    request_id = answers[0].get_json()["request_id"]
    deadline = time.monotonic() + 2
    while redis.exists(IN_FLIGHT_KEY.format(request_id)) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not redis.exists(IN_FLIGHT_KEY.format(request_id)), "the stored request's note is removed soon after"


# The request waits out the open circuit for a second only (its model stays shut for 5 s).
@pytest.mark.parametrize("app", [{"TIERGATE_SYNC_WAIT_SECONDS": 2}], indirect=True)
def test_a_circuit_open_when_the_request_arrives_is_not_called(app, fake_anthropic):
    client = app.test_client()
    _, headers = new_key(app)
    rt = app.extensions["runtime"]
    assert client.post("/v1/fallback", headers=headers, json=sync_task()).status_code == 200  # warm
    model = rt.policy().model_for(rt.policy().task_types["classification"].tier)
    for _ in range(rt.breaker.failures):
        rt.breaker.record_failure(model)
    called = len(fake_anthropic.requests)
    answer = client.post("/v1/fallback", headers=headers, json=sync_task()).get_json()
    assert all(request.model != model for request in fake_anthropic.requests[called:]), \
        "the open circuit, read in the request's first round trip, kept its model from being called"
    assert answer["status"] == "failed" and "circuit open" in answer["error"], answer


def test_a_circuit_read_closed_serves_the_first_call_only(redis_conn):
    breaker = CircuitBreaker(redis_conn, failures=1, open_seconds=30)
    models = (HAIKU,)
    seen = breaker.seen(models, redis_conn.mget(*breaker.state_keys(models)))
    with circuits_read(seen):
        assert _command_calls(redis_conn, lambda: breaker.acquire(HAIKU) or None).get("exists") is None
        breaker.record_failure(HAIKU)  # the call failed: the circuit opens
        assert not breaker.acquire(HAIKU), "a second call in the same request asks Redis, and finds it open"


def test_a_circuit_read_failing_or_long_ago_is_asked_again(redis_conn):
    breaker = CircuitBreaker(redis_conn, failures=3, open_seconds=30)
    breaker.record_failure(HAIKU)  # one failure counted: not clean
    models = (HAIKU,)
    seen = breaker.seen(models, redis_conn.mget(*breaker.state_keys(models)))
    assert seen.closed == {HAIKU: False}
    with circuits_read(seen):
        assert _command_calls(redis_conn, lambda: breaker.acquire(HAIKU) or None).get("exists", 0) >= 1
    breaker.clear(HAIKU)
    stale = Seen(id(breaker), time.monotonic() - 2 * SEEN_FRESH_SECONDS, {HAIKU: True})
    with circuits_read(stale):
        assert _command_calls(redis_conn, lambda: breaker.acquire(HAIKU) or None).get("exists", 0) >= 1
