"""Issue 25 items 7 and 10: the drop-in endpoints map faults like the rest of the API, in their own wire
format, and a hanging provider holds a drop-in caller no longer than the sync bound.

Tiergate runs on a real socket and the official SDKs call it: a database that refuses connections is a
503 with ``Retry-After`` (the SDK's own ``InternalServerError`` / ``APIStatusError``), and a body nested
1,000 levels deep is a 400 naming the nesting, never a 500 with a traceback.
"""
from __future__ import annotations

import pytest
import requests
from sqlalchemy import create_engine, select

from app.api.body import MAX_JSON_DEPTH
from app.store import Request
from app.web.context import runtime_of
from app.web.errors import DEPENDENCY_RETRY_AFTER_SECONDS
from tests.support.fake_anthropic import Reply
from tests.support.gateway_app import app, fake_openai, gateway_key, gateway_policy, server  # noqa: F401
from tests.test_bad_input import nested

USER = [{"role": "user", "content": "hello"}]
DEAD_DATABASE = "postgresql+psycopg://nobody@127.0.0.1:1/none"
GATEWAY_PATHS = ["/v1/chat/completions", "/v1/messages", "/v1/responses"]


@pytest.fixture
def database_down(app):
    """The store's engine pointed at a port where nothing listens: every connection is refused."""
    store = runtime_of(app).store
    alive = store.engine
    dead = create_engine(DEAD_DATABASE, connect_args={"connect_timeout": 1})
    store.engine = dead
    store.sessions.configure(bind=dead)
    yield
    store.engine = alive
    store.sessions.configure(bind=alive)
    dead.dispose()


def test_openai_sdk_gets_503_with_retry_after_when_the_database_is_down(server, gateway_key, database_down):
    from openai import InternalServerError, OpenAI

    client = OpenAI(base_url=server + "/v1", api_key=gateway_key, max_retries=0, timeout=20)
    with pytest.raises(InternalServerError) as caught:
        client.chat.completions.create(model="tiergate/auto", messages=USER)
    with pytest.raises(InternalServerError) as caught_responses:
        client.responses.create(model="tiergate/auto", input="hello")

    for error in (caught.value, caught_responses.value):
        assert error.status_code == 503
        assert error.response.headers["Retry-After"] == str(DEPENDENCY_RETRY_AFTER_SECONDS)
        assert error.body["type"] == "server_error" and "database is unreachable" in error.body["message"]
        assert error.response.headers.get("x-should-retry") != "false"  # retrying after the wait is right


def test_anthropic_sdk_gets_503_with_retry_after_when_the_database_is_down(server, gateway_key, database_down):
    from anthropic import Anthropic, APIStatusError

    client = Anthropic(base_url=server, api_key=gateway_key, max_retries=0, timeout=20)
    with pytest.raises(APIStatusError) as caught:
        client.messages.create(model="tiergate/auto", max_tokens=50, messages=USER)

    assert caught.value.status_code == 503
    assert caught.value.response.headers["Retry-After"] == str(DEPENDENCY_RETRY_AFTER_SECONDS)
    body = caught.value.body
    assert body["type"] == "error" and body["error"]["type"] == "api_error"
    assert "database is unreachable" in body["error"]["message"]


@pytest.mark.parametrize("path", GATEWAY_PATHS)
@pytest.mark.parametrize("depth", [300, 1000, 5000])
def test_a_body_nested_too_deeply_is_a_400_in_the_wire_format(server, gateway_key, path, depth):
    body = b'{"model":"tiergate/auto","max_tokens":10,"messages":[{"role":"user","content":"hi"}],"metadata":' \
        + nested(depth) + b"}"
    response = requests.post(server + path, data=body, timeout=20,
                             headers={"Authorization": f"Bearer {gateway_key}", "Content-Type": "application/json"})

    assert response.status_code == 400, response.text[:300]
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert "nested too deeply" in error["message"] and str(MAX_JSON_DEPTH) in error["message"]
    assert "Traceback" not in response.text


# -- issue 25 item 10: a hanging provider is cut at the sync bound, and the cut call is booked ---------
SYNC_BOUND_SECONDS = 4
HANGING = {"TIERGATE_SYNC_WAIT_SECONDS": SYNC_BOUND_SECONDS, "TIERGATE_PROVIDER_TIMEOUT_SECONDS": 60,
           "TIERGATE_PROVIDER_MAX_RETRIES": 2}


@pytest.mark.parametrize("app", [HANGING], indirect=True)
def test_a_hanging_provider_holds_a_gateway_caller_no_longer_than_the_sync_bound(app, server, gateway_key,
                                                                                 fake_anthropic):
    import time

    from openai import APIStatusError, OpenAI

    for model in ("claude-haiku-4-5", "claude-sonnet-4-6", "claude-opus-4-7"):
        fake_anthropic.script(model, *[Reply.hang(120)] * 3)
    client = OpenAI(base_url=server + "/v1", api_key=gateway_key, max_retries=0, timeout=20)
    started = time.monotonic()
    with pytest.raises(APIStatusError) as caught:
        client.chat.completions.create(model="tiergate/auto", messages=USER)
    waited = time.monotonic() - started

    assert waited < SYNC_BOUND_SECONDS + 2, f"held the caller {waited:.1f} s"
    assert caught.value.status_code == 502 and "no answer within" in caught.value.message
    assert len(fake_anthropic.requests) == 1  # one try, cut at the bound: no SDK retry past it
    with app.extensions["store"].session() as session:
        row = session.scalar(select(Request))
        attempts = list(row.attempts)
    assert row.status == "failed" and len(attempts) == 1
    assert attempts[0].cost_usd > 0 and row.cost_usd == attempts[0].cost_usd  # booked at its estimate, not $0
    assert "outcome unknown" in attempts[0].reason


@pytest.mark.parametrize("gateway_policy", ["live"], indirect=True)
@pytest.mark.parametrize("app", [HANGING], indirect=True)
def test_a_live_streams_first_token_is_awaited_no_longer_than_the_sync_bound_and_the_cut_call_booked(
        app, server, gateway_key, fake_anthropic):
    import time

    from openai import APIStatusError, OpenAI

    for model in ("claude-haiku-4-5", "claude-sonnet-4-6", "claude-opus-4-7"):
        fake_anthropic.script(model, *[Reply.hang(30, "too late")] * 3)
    client = OpenAI(base_url=server + "/v1", api_key=gateway_key, max_retries=0, timeout=60)
    started = time.monotonic()
    with pytest.raises(APIStatusError) as caught:
        with client.chat.completions.create(model="tiergate/tier2", messages=USER, stream=True) as stream:
            list(stream)
    waited = time.monotonic() - started

    assert waited < SYNC_BOUND_SECONDS + 2, f"held the caller {waited:.1f} s"
    assert caught.value.status_code == 502 and "no answer within" in caught.value.message
    assert len(fake_anthropic.requests) == 1  # one try, cut at the bound; no gated run after it
    with app.extensions["store"].session() as session:
        row = session.scalar(select(Request))
        attempts = list(row.attempts)
    assert row.status == "failed" and len(attempts) == 1
    assert attempts[0].cost_usd > 0 and row.cost_usd == attempts[0].cost_usd  # booked at its upper bound
    assert "outcome unknown" in attempts[0].reason
