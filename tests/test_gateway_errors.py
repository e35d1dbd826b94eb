"""Bad input and upstream failure on the drop-in endpoints: the client's own error format, never a 500."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.store import Request, Review
from tests.support.fake_anthropic import Reply
from tests.support.gateway_app import app, fake_openai, gateway_key, gateway_policy, openai_client, server  # noqa: F401

USER = [{"role": "user", "content": "hello"}]
BAD_SCHEMA_TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {
    "type": "object", "properties": {"id": {"type": "no-such-type"}}}}}


@pytest.fixture
def bearer(gateway_key):
    return {"Authorization": f"Bearer {gateway_key}"}


@pytest.mark.parametrize(("body", "status", "param", "code"), [
    ({"model": "gpt-4-turbo", "messages": USER}, 404, "model", "model_not_found"),
    ({"model": "tiergate/tier9", "messages": USER}, 404, "model", "model_not_found"),
    ({"model": "tiergate/auto"}, 400, "messages", "malformed"),
    ({"model": "tiergate/auto", "messages": "hello"}, 400, "messages", "malformed"),
    ({"model": "tiergate/auto", "messages": [{"role": "robot", "content": "hi"}]}, 400, "messages[0].role", "malformed"),
    ({"model": "tiergate/auto", "messages": [{"role": "user", "content": [{"type": "input_audio"}]}]}, 400,
     "messages[0].content[0].type", "malformed"),
    ({"model": "tiergate/auto", "messages": [{"role": "assistant", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{not json"}}]}, *USER]}, 400,
     "messages[0].tool_calls[0].function.arguments", "malformed"),
    ({"model": "tiergate/auto", "messages": [{"role": "tool", "content": "4"}]}, 400, "messages[0].tool_call_id",
     "malformed"),
    ({"model": "tiergate/auto", "messages": USER, "tools": [BAD_SCHEMA_TOOL]}, 400, "tools[0].function", "malformed"),
    ({"model": "tiergate/auto", "messages": USER, "tools": [{"type": "function", "function": {"name": "bad name!"}}]},
     400, "tools[0].function.name", "malformed"),
    ({"model": "tiergate/auto", "messages": USER, "n": 2}, 400, "n", "unsupported_value"),
    ({"model": "tiergate/auto", "messages": USER, "max_tokens": 0}, 400, "max_completion_tokens", "malformed"),
    ({"model": "tiergate/auto", "messages": USER, "response_format": {"type": "json_schema",
                                                                      "json_schema": {"name": "x"}}}, 400,
     "response_format.json_schema.schema", "malformed"),
    ({"model": "tiergate/auto", "messages": USER, "response_format": {"type": "json_schema", "json_schema": {
        "name": "x", "schema": {"type": "object", "properties": {"a": {"$ref": "#/$defs/Missing"}}}}}}, 400,
     "response_format.json_schema", "malformed"),
], ids=["unknown-model", "unknown-tier", "no-messages", "messages-not-a-list", "bad-role", "audio-part",
        "bad-tool-arguments", "tool-without-id", "invalid-tool-schema", "invalid-tool-name", "n=2", "max-tokens-0",
        "schema-missing", "schema-dangling-ref"])
def test_openai_path_refuses_bad_input_in_openai_format(app, bearer, body, status, param, code, fake_anthropic):
    response = app.test_client().post("/v1/chat/completions", json=body, headers=bearer)
    assert fake_anthropic.requests == []  # refused before any model call

    assert response.status_code == status, response.get_json()
    error = response.get_json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["param"], error["code"]) == (param, code)
    assert error["type"] == "invalid_request_error" and error["message"]


def test_responses_path_refuses_a_dangling_schema_ref_before_any_model_call(app, bearer, fake_anthropic):
    """Issue 25 item 6, on /v1/responses: 400 naming text.format, no model call, no ledger row."""
    body = {"model": "tiergate/auto", "input": "ACME GmbH, 40 seats", "text": {"format": {
        "type": "json_schema", "name": "lead", "schema": {"type": "object", "properties": {"a": {"$ref": "#/$defs/X"}}}}}}
    response = app.test_client().post("/v1/responses", json=body, headers=bearer)

    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert error["param"] == "text.format" and "'#/$defs/X' does not resolve" in error["message"]
    assert fake_anthropic.requests == []
    with app.extensions["store"].session() as session:
        assert session.scalars(select(Request)).all() == []


def test_openai_sdk_raises_its_own_errors_with_our_message(openai_client):
    import openai

    with pytest.raises(openai.NotFoundError) as caught:
        openai_client.chat.completions.create(model="gpt-4o", messages=USER)
    assert caught.value.code == "model_not_found" and "tiergate/auto" in caught.value.message

    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.chat.completions.create(model="tiergate/auto", messages=USER, n=2)
    assert caught.value.param == "n"


def test_body_that_is_not_json_and_missing_or_weak_keys(app, bearer, make_key):
    client = app.test_client()
    not_json = client.post("/v1/chat/completions", data="{oops", headers={**bearer, "Content-Type": "application/json"})
    no_key = client.post("/v1/chat/completions", json={"model": "tiergate/auto", "messages": USER})
    wrong_scope = client.post("/v1/chat/completions", json={"model": "tiergate/auto", "messages": USER},
                              headers={"Authorization": f"Bearer {make_key(['fallback'])}"})

    assert not_json.status_code == 400 and not_json.get_json()["error"]["type"] == "invalid_request_error"
    assert no_key.status_code == 401 and no_key.get_json()["error"]["code"] == "invalid_api_key"
    assert wrong_scope.status_code == 403 and "gateway" in wrong_scope.get_json()["error"]["message"]


@pytest.mark.parametrize(("body", "status", "kind"), [
    ({"model": "claude-3-opus", "max_tokens": 10, "messages": USER}, 404, "not_found_error"),
    ({"model": "tiergate/auto", "messages": USER}, 400, "invalid_request_error"),
    ({"model": "tiergate/auto", "max_tokens": 10, "messages": [{"role": "system", "content": "x"}]}, 400,
     "invalid_request_error"),
    ({"model": "tiergate/auto", "max_tokens": 10, "messages": [{"role": "user", "content": [{"type": "video"}]}]},
     400, "invalid_request_error"),
    ({"model": "tiergate/auto", "max_tokens": 10, "messages": USER,
      "tools": [{"name": "t", "input_schema": {"type": "object", "properties": {"a": {"type": 5}}}}]}, 400,
     "invalid_request_error"),
], ids=["unknown-model", "no-max-tokens", "system-role-message", "unknown-block", "invalid-tool-schema"])
def test_anthropic_path_refuses_bad_input_in_anthropic_format(app, gateway_key, body, status, kind):
    response = app.test_client().post("/v1/messages", json=body, headers={"x-api-key": gateway_key,
                                                                         "anthropic-version": "2023-06-01"})

    assert response.status_code == status
    data = response.get_json()
    assert data["type"] == "error" and data["error"]["type"] == kind and data["error"]["message"]


@pytest.mark.parametrize("gateway_policy", ["fail"], indirect=True)
def test_an_overloaded_provider_is_a_502_in_each_format_and_a_failed_ledger_row(app, bearer, gateway_key,
                                                                                 fake_anthropic):
    fake_anthropic.script("claude-haiku-4-5", Reply.overloaded(), Reply.overloaded())
    client = app.test_client()

    openai_style = client.post("/v1/chat/completions", json={"model": "tiergate/tier1", "messages": USER},
                               headers=bearer)
    anthropic_style = client.post("/v1/messages", json={"model": "tiergate/tier1", "max_tokens": 50, "messages": USER},
                                  headers={"x-api-key": gateway_key})

    assert openai_style.status_code == 502 and openai_style.get_json()["error"]["type"] == "server_error"
    assert anthropic_style.status_code == 502 and anthropic_style.get_json()["error"]["type"] == "api_error"
    assert "overloaded" in openai_style.get_json()["error"]["message"].lower()
    with app.extensions["store"].session() as session:
        rows = session.scalars(select(Request).where(Request.kind == "gateway")).all()
        assert [row.status for row in rows] == ["failed", "failed"]
        assert all([a.gate for a in row.attempts] == ["provider"] for row in rows)


def test_held_answer_is_a_notice_for_hold_types_and_the_draft_otherwise(app, bearer):
    client = app.test_client()
    body = {"model": "tiergate/auto", "messages": [{"role": "user", "content": "Draft a reply: my parcel is late"}]}

    held = client.post("/v1/chat/completions", json=body, headers={**bearer, "X-Tiergate-Task-Type": "support_reply"})
    plain = {"model": "tiergate/auto", "messages": [{"role": "user", "content": "Summarize: the parcel is late"}]}
    draft = client.post("/v1/chat/completions", json=plain, headers={**bearer, "X-Tiergate-Risk": "high"})

    held_text = held.get_json()["choices"][0]["message"]["content"]
    assert held.headers["x-tiergate-review"].startswith("http://tiergate.test/review/rev_")
    assert held_text.startswith("This answer is held for review") and held.headers["x-tiergate-review"] in held_text
    assert draft.headers["x-tiergate-review"].startswith("http://tiergate.test/review/rev_")
    assert draft.get_json()["choices"][0]["message"]["content"].startswith("Fake answer")
    with app.extensions["store"].session() as session:
        reviews = session.scalars(select(Review)).all()
        assert {review.id for review in reviews} == {held.headers["x-tiergate-review-id"],
                                                     draft.headers["x-tiergate-review-id"]}
        assert all(review.draft and review.status == "pending" for review in reviews)


def test_a_pinned_model_retries_once_but_never_escalates(app, bearer, fake_anthropic):
    fake_anthropic.script("claude-haiku-4-5", Reply.ok("{broken"), Reply.ok("{still broken"))

    response = app.test_client().post("/v1/chat/completions", headers=bearer, json={
        "model": "claude-haiku-4-5", "messages": USER, "response_format": {"type": "json_object"}})

    assert response.status_code == 200
    assert response.get_json()["choices"][0]["message"]["content"] == "{still broken"  # the draft, flagged
    assert response.headers["x-tiergate-review"].startswith("http://tiergate.test/review/")
    assert [r.model for r in fake_anthropic.requests] == ["claude-haiku-4-5", "claude-haiku-4-5"]
    with app.extensions["store"].session() as session:
        (row,) = session.scalars(select(Request)).all()
        assert (row.status, row.escalated, [a.purpose for a in row.attempts]) == ("needs_review", False,
                                                                                  ["retry", "answer"])
