"""Live streaming (policy ``gateway.stream: live``): the routed tier's tokens as they come, ungated, recorded.

And where live streaming must not be used — a JSON format asked for, a provider failing before its first
token — the gated path answers.
"""
from __future__ import annotations

import json

import pytest

from tests.support.fake_anthropic import Reply
from tests.support.gateway_app import (OPENAI_TIER1_MODEL, anthropic_client, app, fake_openai,  # noqa: F401
                                       gateway_key, gateway_policy, ledger, openai_client, server)

HAIKU = "claude-haiku-4-5"
PROMPT = [{"role": "user", "content": "Tell me about the lighthouse on the northern cape"}]


@pytest.mark.parametrize("gateway_policy", ["live"], indirect=True)
def test_openai_stream_is_relayed_live_and_recorded_ungated(openai_client, app, fake_anthropic):
    raw = openai_client.chat.completions.with_raw_response.create(
        model="tiergate/tier1", messages=PROMPT, stream=True, stream_options={"include_usage": True})
    chunks = list(raw.parse())

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Fake answer: Tell me about the lighthouse on the northern cape"
    assert raw.headers["x-tiergate-stream"] == "live" and "x-tiergate-cost-usd" not in raw.headers
    assert fake_anthropic.requests[0].body["stream"] is True
    assert chunks[-1].usage.completion_tokens > 0
    row = ledger(app, raw.headers["x-tiergate-request-id"])
    (attempt,) = row.attempts
    assert (row.status, attempt.reason, attempt.purpose) == ("done", "streamed live: gates not applied", "answer")
    assert row.cost_usd > 0 and row.baseline_cost_usd > row.cost_usd
    assert attempt.output_text == text


@pytest.mark.parametrize("gateway_policy", ["live+openai_tier1"], indirect=True)
def test_anthropic_stream_of_a_tool_call_from_an_openai_compatible_tier(anthropic_client, app, fake_openai):
    tools = [{"name": "lookup_order", "description": "Find an order",
              "input_schema": {"type": "object", "properties": {"order_id": {"type": "integer"}},
                               "required": ["order_id"]}}]
    with anthropic_client.messages.stream(model="tiergate/tier1", max_tokens=200, tools=tools, messages=[
            {"role": "user", "content": "Where is order 10482?"}]) as stream:
        final = stream.get_final_message()

    (use,) = final.content
    assert (use.type, use.name, use.input) == ("tool_use", "lookup_order", {"order_id": 10482})
    assert final.stop_reason == "tool_use"
    assert fake_openai.requests[0]["stream"] is True
    row = ledger(app, stream.response.headers["x-tiergate-request-id"])
    assert (row.status, row.model, row.attempts[0].provider) == ("done", OPENAI_TIER1_MODEL, "openai")


@pytest.mark.parametrize("gateway_policy", ["live"], indirect=True)
def test_a_provider_failing_before_the_first_token_sends_the_call_down_the_gated_path(openai_client, fake_anthropic):
    fake_anthropic.script(HAIKU, Reply.overloaded())
    raw = openai_client.chat.completions.with_raw_response.create(model="tiergate/tier1", messages=PROMPT, stream=True)

    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text.startswith("Fake answer: Tell me about")
    assert "x-tiergate-stream" not in raw.headers and float(raw.headers["x-tiergate-cost-usd"]) > 0
    assert [r.body.get("stream", False) for r in fake_anthropic.requests] == [True, False]


@pytest.mark.parametrize("gateway_policy", ["live"], indirect=True)
def test_json_output_is_never_streamed_live(openai_client, app):
    raw = openai_client.chat.completions.with_raw_response.create(
        model="tiergate/tier1", messages=PROMPT, stream=True, response_format={"type": "json_schema", "json_schema": {
            "name": "place", "schema": {"type": "object", "properties": {"name": {"type": "string"}},
                                        "required": ["name"]}}})

    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    json.loads(text)
    assert "x-tiergate-stream" not in raw.headers
    gates = [g["gate"] for g in ledger(app, raw.headers["x-tiergate-request-id"]).attempts[0].gate_results]
    assert gates == ["non_empty", "json", "schema"]
