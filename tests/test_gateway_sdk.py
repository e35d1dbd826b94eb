"""The official ``openai`` and ``anthropic`` SDKs pointed at Tiergate: plain, streamed, tool round trip, JSON schema.

Tiergate runs on a real socket; the tiers' models are the fake Messages API and, where a test says so,
a fake OpenAI-compatible API, so every translation between the two formats is exercised both ways.
"""
from __future__ import annotations

import json
from decimal import Decimal

import jsonschema
import pytest

from tests.support.fake_anthropic import Reply

from tests.support.gateway_app import (OPENAI_TIER1_MODEL, anthropic_client, app, fake_openai,  # noqa: F401
                                       gateway_key, gateway_policy, ledger, openai_client, server)

SONNET, HAIKU = "claude-sonnet-4-6", "claude-haiku-4-5"
CALCULATOR = {"type": "function", "function": {
    "name": "calculator", "description": "Evaluate an arithmetic expression",
    "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]}}}
CONTACT_SCHEMA = {"type": "object", "required": ["name", "email"], "additionalProperties": False,
                  "properties": {"name": {"type": "string"}, "email": {"type": "string"}}}


def _request_id(headers) -> str:
    return headers["x-tiergate-request-id"]


# -- OpenAI SDK ----------------------------------------------------------------------------------------
def test_openai_plain_call_is_routed_answered_and_in_the_ledger(openai_client, app, fake_anthropic):
    raw = openai_client.chat.completions.with_raw_response.create(
        model="tiergate/auto", temperature=0.2, max_completion_tokens=300,
        messages=[{"role": "system", "content": "You are terse."}, {"role": "user", "content": "What time is it in Berlin?"}])
    completion = raw.parse()

    assert completion.choices[0].message.content == "Fake answer: What time is it in Berlin?"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == HAIKU  # routed as /v1/route routes free text (learned): a plain question is cheap
    assert raw.headers["x-tiergate-tier"] == "tier1" and raw.headers["x-tiergate-model"] == HAIKU
    assert raw.headers["x-tiergate-decision-id"].startswith("dec_")
    (sent,) = fake_anthropic.requests
    # The client's system prompt leads the system blocks; far below Haiku's minimum cacheable length
    # (4,096 tokens), it is not marked for caching, as the real API would not cache it.
    assert sent.cached_system == [] and sent.uncached_system[0].startswith("You are terse.")
    assert sent.body["max_tokens"] == 300
    row = ledger(app, _request_id(raw.headers))
    assert (row.kind, row.status, row.tier, row.model) == ("gateway", "done", "tier1", HAIKU)
    assert completion.usage.prompt_tokens == row.attempts[0].input_tokens + row.attempts[0].cache_write_tokens
    assert row.cost_usd == Decimal(raw.headers["x-tiergate-cost-usd"]) > 0
    assert row.baseline_cost_usd == Decimal(raw.headers["x-tiergate-baseline-cost-usd"]) > 0


def test_openai_usage_reports_cached_prompt_tokens(openai_client):
    # Long enough for Haiku's minimum cacheable prefix (4,096 tokens), as a real cached prompt must be.
    messages = [{"role": "system", "content": "You are the support assistant of Acme. " * 600},
                {"role": "user", "content": "Hello"}]
    first = openai_client.chat.completions.create(model="tiergate/tier1", messages=messages)
    second = openai_client.chat.completions.create(model="tiergate/tier1", messages=messages)

    assert first.usage.prompt_tokens_details.cached_tokens == 0
    assert second.usage.prompt_tokens_details.cached_tokens > 0  # the system prompt came from the cache
    assert second.usage.prompt_tokens == first.usage.prompt_tokens


def test_openai_stream_yields_chunks_then_usage(openai_client, app):
    stream = openai_client.chat.completions.create(
        model="tiergate/tier1", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "Write a long greeting for our newest customer, Grace Hopper"}])
    chunks = list(stream)

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Fake answer: Write a long greeting for our newest customer, Grace Hopper"
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) > 1
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    assert {c.model for c in chunks} == {HAIKU}


def test_openai_tool_call_round_trip(openai_client, app, fake_anthropic):
    messages = [{"role": "user", "content": "What is 17 * 23? Use the calculator."}]
    first = openai_client.chat.completions.create(model="tiergate/auto", messages=messages, tools=[CALCULATOR])

    (call,) = first.choices[0].message.tool_calls
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "calculator" and json.loads(call.function.arguments) == {"expression": "17 * 23"}
    assert fake_anthropic.requests[0].body["tools"][0]["input_schema"] == CALCULATOR["function"]["parameters"]
    assert fake_anthropic.requests[0].model == SONNET  # tools offered: at least tier2

    messages += [first.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "391"}]
    second = openai_client.chat.completions.create(model="tiergate/auto", messages=messages, tools=[CALCULATOR])

    assert second.choices[0].message.content == "The result is 391."
    sent = fake_anthropic.requests[1].messages
    assert sent[1]["content"][0] == {"type": "tool_use", "id": call.id, "name": "calculator",
                                     "input": {"expression": "17 * 23"}}
    assert sent[2]["content"][0] == {"type": "tool_result", "tool_use_id": call.id, "content": "391"}


def test_openai_streamed_tool_call(openai_client):
    stream = openai_client.chat.completions.create(
        model="tiergate/tier2", stream=True, tools=[CALCULATOR],
        messages=[{"role": "user", "content": "Compute 6 * 7 please"}])
    deltas = [c.choices[0].delta for c in stream if c.choices]

    calls = [call for delta in deltas for call in delta.tool_calls or []]
    assert calls[0].function.name == "calculator" and calls[0].id
    assert json.loads("".join(call.function.arguments or "" for call in calls)) == {"expression": "6 * 7"}


def test_openai_json_schema_call_is_gated_against_the_schema(openai_client, app, fake_anthropic):
    raw = openai_client.chat.completions.with_raw_response.create(
        model="tiergate/auto", messages=[{"role": "user", "content": "Contact: Ada Lovelace, ada@example.com"}],
        response_format={"type": "json_schema", "json_schema": {"name": "contact", "schema": CONTACT_SCHEMA}})
    completion = raw.parse()

    jsonschema.validate(json.loads(completion.choices[0].message.content), CONTACT_SCHEMA)
    assert fake_anthropic.requests[0].body["output_config"] == {"format": {"type": "json_schema",
                                                                           "schema": CONTACT_SCHEMA}}
    gates = [g["gate"] for g in ledger(app, _request_id(raw.headers)).attempts[0].gate_results]
    assert gates == ["non_empty", "json", "schema"]


def test_openai_models_list_names_routed_and_policy_models(openai_client):
    names = [model.id for model in openai_client.models.list()]

    assert names[:4] == ["tiergate/auto", "tiergate/tier1", "tiergate/tier2", "tiergate/tier3"]
    assert {HAIKU, SONNET, "claude-opus-4-7"} <= set(names)


# -- Anthropic SDK -------------------------------------------------------------------------------------
def test_anthropic_models_list_reads_the_same_names(anthropic_client):
    assert [model.id for model in anthropic_client.models.list()][:2] == ["tiergate/auto", "tiergate/tier1"]


def test_anthropic_plain_call(anthropic_client, app, fake_anthropic):
    raw = anthropic_client.messages.with_raw_response.create(
        model="tiergate/tier1", max_tokens=200, system="Be brief.",
        messages=[{"role": "user", "content": "Say hello to Linus"}])
    message = raw.parse()

    assert message.content[0].text == "Fake answer: Say hello to Linus"
    assert message.stop_reason == "end_turn" and message.model == HAIKU
    assert message.usage.cache_creation_input_tokens == 0  # "Be brief." is far below Haiku's 4,096-token minimum
    row = ledger(app, _request_id(raw.headers))
    assert (row.kind, row.tier, row.status) == ("gateway", "tier1", "done")
    assert row.attempts[0].cache_write_tokens == message.usage.cache_creation_input_tokens


def test_anthropic_stream(anthropic_client):
    with anthropic_client.messages.stream(model="tiergate/auto", max_tokens=300,
                                          messages=[{"role": "user", "content": "Tell a story about a lighthouse keeper and her cat"}]) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()

    assert "".join(pieces) == "Fake answer: Tell a story about a lighthouse keeper and her cat"
    assert len(pieces) > 1
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0


def test_anthropic_tool_use_round_trip(anthropic_client, fake_anthropic):
    tools = [{"name": "calculator", "description": "Evaluate arithmetic",
              "input_schema": {"type": "object", "properties": {"expression": {"type": "string"}},
                               "required": ["expression"]}}]
    messages = [{"role": "user", "content": "What is 12 + 30?"}]
    first = anthropic_client.messages.create(model="tiergate/auto", max_tokens=300, tools=tools, messages=messages)

    (use,) = [block for block in first.content if block.type == "tool_use"]
    assert first.stop_reason == "tool_use" and use.input == {"expression": "12 + 30"}

    messages += [{"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content]},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "42"}]}]
    with anthropic_client.messages.stream(model="tiergate/auto", max_tokens=300, tools=tools, messages=messages) as stream:
        final = stream.get_final_message()

    assert final.content[0].text == "The result is 42."


def test_anthropic_json_schema_output(anthropic_client, app):
    raw = anthropic_client.messages.with_raw_response.create(
        model="tiergate/auto", max_tokens=300, messages=[{"role": "user", "content": "Grace, grace@navy.mil"}],
        output_config={"format": {"type": "json_schema", "schema": CONTACT_SCHEMA}})

    jsonschema.validate(json.loads(raw.parse().content[0].text), CONTACT_SCHEMA)
    assert ledger(app, _request_id(raw.headers)).attempts[0].gate == None  # noqa: E711  (passed)


# -- a tier on an OpenAI-compatible provider -------------------------------------------------------------
@pytest.mark.parametrize("gateway_policy", ["openai_tier1"], indirect=True)
def test_anthropic_client_reaches_an_openai_compatible_tier_with_tools(anthropic_client, fake_openai, app):
    tools = [{"name": "lookup_order", "description": "Find an order",
              "input_schema": {"type": "object", "properties": {"order_id": {"type": "integer"}},
                               "required": ["order_id"]}}]
    messages = [{"role": "user", "content": "Where is order 10482?"}]
    first = anthropic_client.messages.create(model="tiergate/tier1", max_tokens=200, tools=tools, messages=messages)

    (use,) = first.content
    assert use.type == "tool_use" and use.input == {"order_id": 10482}
    assert first.model == OPENAI_TIER1_MODEL
    assert fake_openai.requests[0]["tools"][0]["function"]["name"] == "lookup_order"

    messages += [{"role": "assistant", "content": [use.model_dump(exclude_none=True)]},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "shipped"}]}]
    raw = anthropic_client.messages.with_raw_response.create(model="tiergate/tier1", max_tokens=200, tools=tools,
                                                             messages=messages)

    assert raw.parse().content[0].text == "The result is shipped."
    sent = fake_openai.requests[1]["messages"]
    assert sent[-2]["tool_calls"][0]["id"] == use.id and sent[-1] == {"role": "tool", "tool_call_id": use.id,
                                                                      "content": "shipped"}
    row = ledger(app, raw.headers["x-tiergate-request-id"])
    assert (row.model, row.attempts[0].provider) == (OPENAI_TIER1_MODEL, "openai")
    assert row.cost_usd > 0 and row.baseline_cost_usd > row.cost_usd  # priced from the policy


@pytest.mark.parametrize("gateway_policy", ["openai_tier1"], indirect=True)
def test_openai_client_streams_from_a_pinned_openai_compatible_model(openai_client, fake_openai):
    stream = openai_client.chat.completions.create(
        model=OPENAI_TIER1_MODEL, stream=True,
        messages=[{"role": "user", "content": [{"type": "text", "text": "Describe this picture"},
                                               {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}])

    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "Fake OpenAI answer: Describe this picture"
    assert fake_openai.requests[0]["messages"][-1]["content"][1] == {
        "type": "image_url", "image_url": {"url": "https://example.com/a.png"}}


@pytest.mark.parametrize("gateway_policy", ["failover"], indirect=True)
def test_overloaded_anthropic_tier_fails_over_to_the_same_tier_on_another_provider(openai_client, fake_anthropic,
                                                                                    fake_openai, app):
    fake_anthropic.script(HAIKU, Reply.overloaded())
    raw = openai_client.chat.completions.with_raw_response.create(
        model="tiergate/tier1", messages=[{"role": "user", "content": "Say hi to Margaret"}])

    assert raw.parse().choices[0].message.content == "Fake OpenAI answer: Say hi to Margaret"
    assert raw.headers["x-tiergate-tier"] == "tier1" and raw.headers["x-tiergate-model"] == OPENAI_TIER1_MODEL
    assert len(fake_anthropic.requests_for(HAIKU)) == 1 and len(fake_openai.requests_for(OPENAI_TIER1_MODEL)) == 1
    (attempt,) = ledger(app, raw.headers["x-tiergate-request-id"]).attempts
    assert (attempt.provider, attempt.model, attempt.ok) == ("openai", OPENAI_TIER1_MODEL, True)
    assert attempt.cost_usd > 0  # priced at the failover model's policy price


def test_gateway_calls_count_in_the_savings_report_like_fallback_calls(openai_client, app, make_key):
    raws = [openai_client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "Say hello to Alan"}]) for model in ("tiergate/tier1", HAIKU)]

    report = app.test_client().get("/v1/reports/savings", headers={"X-API-Key": make_key()}).get_json()

    assert report["total"]["requests"] == 2
    cost = sum(Decimal(raw.headers["x-tiergate-cost-usd"]) for raw in raws)
    baseline = sum(Decimal(raw.headers["x-tiergate-baseline-cost-usd"]) for raw in raws)
    assert Decimal(str(report["total"]["cost_usd"])) == cost
    assert Decimal(str(report["total"]["baseline_cost_usd"])) == baseline > cost  # tier1 is cheaper than Sonnet
