"""Issue 25 item 4: a short provider blip costs seconds of open circuit, not half a minute.

Twenty callers share one breaker (as the greenlets of a web process do) and call the fake Messages API
through the real SDK (its own retries included) while the fake answers 529 for 3 s. Their calls fail
together after the SDK's retries; the first three open the circuit for 5 s. Before the fix every other
call already in flight counted as a failed probe and doubled the wait, up to 30 s.
"""
from __future__ import annotations

import threading
import time

from app.calls.attempt import AttemptRecord
from app.calls.guarded import Guards
from app.policy import load_policy
from app.providers import AnthropicProvider, CircuitBreaker, ModelCall

HAIKU = "claude-haiku-4-5"
BLIP_SECONDS = 3.0
CALLERS = 20


def _caller(guards: Guards, provider: AnthropicProvider, until: float, successes: list[float]) -> None:
    """Call until the first answer (or ``until``), waiting while the circuit is open, as the cascade does."""
    call = ModelCall(model=HAIKU, messages=[{"role": "user", "content": "ACME GmbH, 40 seats"}], max_tokens=50)
    while time.monotonic() < until:
        if not guards.available(HAIKU):
            time.sleep(min(max(guards.breaker.remaining(HAIKU), 0.05), 0.25))
            continue
        record = AttemptRecord(tier="tier1", model=HAIKU, provider="anthropic", purpose="answer")
        if guards.complete(provider, call, record, circuit_checked=True) is not None:
            successes.append(time.monotonic())
            return


def test_a_three_second_overload_blip_closes_the_model_for_seconds_not_half_a_minute(fake_anthropic, redis_conn):
    breaker = CircuitBreaker(redis_conn, failures=3, open_seconds=5)  # the shipped defaults
    guards = Guards(load_policy().prices, breaker=breaker)
    provider = AnthropicProvider("test-key", fake_anthropic.url, timeout=10, max_retries=2)  # the SDK's retries, as shipped
    fake_anthropic.outage(BLIP_SECONDS)
    recovered = time.monotonic() + BLIP_SECONDS
    successes: list[float] = []
    callers = [threading.Thread(target=_caller, args=(guards, provider, recovered + 20, successes))
               for _ in range(CALLERS)]
    for thread in callers:
        thread.start()
    for thread in callers:
        thread.join(timeout=30)
    assert len(successes) == CALLERS, "every caller gets its answer once the provider is back"
    first_after = min(successes) - recovered
    # The circuit opened once, for 5 s, when the first calls failed (~1.5 s in, after the SDK's two
    # retries): the probe goes out ~3.5 s after recovery. Re-armed by in-flight failures it stayed
    # shut until ~28 s after recovery.
    assert first_after < 6.0, f"no answer until {first_after:.1f} s after the provider recovered"
    assert max(successes) - recovered < 7.0


def test_only_the_probe_greenlet_s_own_failure_escalates(redis_conn):
    """Greenlets of one web process share the breaker: a call let through before the circuit opened
    fails while another greenlet holds the probe; that failure neither re-arms nor doubles the wait."""
    import gevent

    breaker = CircuitBreaker(redis_conn, failures=1, open_seconds=0.3)
    assert breaker.acquire(HAIKU)  # closed: let through (it will fail later, in flight)
    assert breaker.record_failure(HAIKU) is True  # the first failure opens the circuit for 0.3 s
    assert breaker.record_failure(HAIKU) is False and breaker.remaining(HAIKU) <= 0.3  # in flight: ignored
    time.sleep(0.35)

    probe_taken, others_done = gevent.event.Event(), gevent.event.Event()
    outcome = {}

    def probe():
        outcome["probe"] = breaker.acquire(HAIKU)
        probe_taken.set()
        others_done.wait()
        outcome["reopened"] = breaker.record_failure(HAIKU)

    def in_flight():
        probe_taken.wait()
        outcome["other_allowed"] = breaker.acquire(HAIKU)
        outcome["other_reopened"] = breaker.record_failure(HAIKU)
        others_done.set()

    gevent.joinall([gevent.spawn(probe), gevent.spawn(in_flight)])
    assert outcome == {"probe": True, "other_allowed": False, "other_reopened": False, "reopened": True}
    assert 0.3 < breaker.remaining(HAIKU) <= 0.6  # the probe's failure doubled it, once
