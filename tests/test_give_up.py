"""Issue 23 leftover: a request failed for good books the call its crashed run had in flight.

The runner books a lost call (noted in Redis while it was out) when it runs the request again. A
request that is not run again, because the queue's retries are over and the runner answers it
``failed`` (``runner.mark_failed(final=True)``, what ``workers.fallback`` calls on RQ's last try),
left the paid call out of the ledger and its note in Redis. Here a real web process is SIGKILLed while
its model call is out; then the request is failed for good. The call is in the ledger at its upper bound.
"""
from __future__ import annotations

import threading

from sqlalchemy import select

from app.execution.inflight import IN_FLIGHT_KEY
from app.store import Attempt
from app.tasks import runner
from tests.test_execution import SUMMARY, _post_ignoring_errors, slow_model, stack  # noqa: F401  (the real-process stack)


def test_a_request_failed_for_good_books_the_call_its_crashed_run_had_in_flight(stack):  # noqa: F811
    stack.fake.latency_seconds = 3.0
    server = stack.web()
    body = {**SUMMARY, "callback_url": stack.receiver.url + "/resume?signature=abc"}
    caller = threading.Thread(target=lambda: _post_ignoring_errors(server.url + "/v1/fallback", stack.auth, body))
    caller.start()
    stack.wait_for(lambda: len(stack.fake.requests) == 1, 20, "the model call")
    server.kill()  # the web process dies while its model call is out
    caller.join()
    keys = stack.redis.keys(IN_FLIGHT_KEY.format("*"))
    assert len(keys) == 1  # the dead process's note of its paid call
    request_id = keys[0].decode().rsplit(":", 1)[1]

    runner.mark_failed(stack.app.extensions["runtime"], request_id, RuntimeError("the last try crashed"), final=True)

    row = stack.row(request_id)
    with stack.app.extensions["store"].session() as session:
        attempts = session.scalars(select(Attempt).where(Attempt.request_id == request_id)).all()
    assert row.status == "failed" and "the last try crashed" in row.error
    assert [(a.purpose, a.ok) for a in attempts] == [("lost", False)]
    assert attempts[0].cost_usd > 0 and row.cost_usd == attempts[0].cost_usd
    assert not stack.redis.exists(IN_FLIGHT_KEY.format(request_id))  # in the ledger now
    assert len(stack.fake.requests) == 1  # the model was not called again
