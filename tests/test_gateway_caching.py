"""The client's prompt caching through the drop-in gateway: kept, priced by TTL and counted right.

An agent (tools, a system prompt, a growing conversation) marks its own cache breakpoints. Through
Tiergate it must pay no more than calling the model directly, and less when routing moves it to a
cheaper tier. "Direct" is the official anthropic SDK against the same fake Messages API, which computes
cache usage from the request's own markers and the per-model minimums (tests/support/fake_anthropic.py).
Every figure is checked by hand in Decimal: USD per million tokens, 5-minute writes 1.25x input,
1-hour writes 2x, reads 0.1x.
"""
from __future__ import annotations

import json
from decimal import Decimal

import anthropic
import pytest
from sqlalchemy import select

from app.policy import load_policy
from app.providers import AnthropicProvider, ModelCall
from app.store import Attempt, Request
from tests.support.gateway_app import (anthropic_client, app, fake_openai, gateway_key,  # noqa: F401
                                       gateway_policy, ledger, openai_client, server)

SONNET, HAIKU = "claude-sonnet-4-6", "claude-haiku-4-5"
PRICES = {SONNET: (Decimal(3), Decimal(15)), HAIKU: (Decimal(1), Decimal(5))}  # input, output per million
MILLION = Decimal(1_000_000)
TURNS = 20
HEADERS = {"X-Tiergate-Task-Type": "open_question"}  # a plain-text task type gated by non_empty only


def _tool(index: int) -> dict:
    """A tool whose schema documents its fields at length, as agents' tools do (~500 tokens each)."""
    fields = {f"field_{n}": {"type": "string", "description": f"Field {n} of the stock record {index}: " + "the "
                             "warehouse, the bin, the supplier and the date of the last count, as written. " * 4}
              for n in range(5)}
    return {"name": f"stock_tool_{index}", "description": f"Read stock record kind {index}.",
            "input_schema": {"type": "object", "properties": fields, "required": ["field_0"]}}


TOOLS = [_tool(index) for index in range(11)]
SYSTEM = "You are the stock assistant of a small hardware shop. Answer from the tools' data only. " * 36


def _tokens(text: str) -> int:
    return (len(text) + 3) // 4  # the fake's count


def _conversation(turn: int) -> list[dict]:
    """The messages of request ``turn``: questions, tool calls and tool results, ending with a user turn."""
    messages: list[dict] = []
    for step in range(turn + 1):
        if step % 2 == 0:
            messages.append({"role": "user", "content": [
                {"type": "text", "text": f"Step {step}: how many units of item {1000 + step} are in the back store?"}]})
        else:
            messages.append({"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": f"toolu_{step:04d}",
                 "content": f"item {999 + step}: 42 units in bin B{step}, counted on Monday"}]})
        if step < turn:
            messages.append({"role": "assistant", "content": [
                {"type": "tool_use", "id": f"toolu_{step + 1:04d}", "name": "stock_tool_0",
                 "input": {"field_0": f"item {1000 + step}"}}] if step % 2 == 0 else [
                {"type": "text", "text": f"Item {999 + step} has 42 units in bin B{step}."}]})
    return messages


def _marked(turn: int, ttl: str | None = None) -> dict:
    """The agent's request for ``turn`` with its own three breakpoints: the tools, the system prompt and
    the last turn (the usual agent placement)."""
    marker = {"type": "ephemeral", **({"ttl": ttl} if ttl else {})}
    messages = _conversation(turn)
    last = messages[-1]
    messages[-1] = {"role": "user", "content": [*last["content"][:-1], {**last["content"][-1], "cache_control": marker}]}
    return {"tools": [*TOOLS[:-1], {**TOOLS[-1], "cache_control": marker}],
            "system": [{"type": "text", "text": SYSTEM, "cache_control": marker}], "messages": messages}


def _billed(model: str, usage) -> Decimal:
    """What the API bills for one answer's usage, by hand."""
    price_in, price_out = PRICES[model]
    write_1h = usage.cache_creation.ephemeral_1h_input_tokens
    write_5m = usage.cache_creation.ephemeral_5m_input_tokens
    assert write_1h + write_5m == usage.cache_creation_input_tokens
    return (usage.input_tokens * price_in + write_5m * price_in * Decimal("1.25") + write_1h * price_in * 2
            + usage.cache_read_input_tokens * price_in * Decimal("0.1") + usage.output_tokens * price_out) / MILLION


def _direct(fake, model: str) -> tuple[Decimal, int]:
    """The 20 turns sent straight to the fake API with the official SDK: total billed, tokens read."""
    sdk = anthropic.Anthropic(api_key="direct", base_url=fake.url, max_retries=0, timeout=20)
    total, read = Decimal(0), 0
    for turn in range(TURNS):
        usage = sdk.messages.create(model=model, max_tokens=300, **_marked(turn)).usage
        total += _billed(model, usage)
        read += usage.cache_read_input_tokens
    return total, read


def _through_tiergate(client, app, model: str) -> tuple[Decimal, list[Request]]:
    """The same 20 turns through /v1/messages: the ledger's total cost and rows."""
    rows = []
    for turn in range(TURNS):
        raw = client.messages.with_raw_response.create(model=model, max_tokens=300, extra_headers=HEADERS,
                                                       **_marked(turn))
        rows.append(ledger(app, raw.headers["x-tiergate-request-id"]))
    return sum((row.cost_usd for row in rows), Decimal(0)), rows


def test_an_agent_with_its_own_markers_pays_no_more_than_calling_the_model_directly(anthropic_client, app,
                                                                                     fake_anthropic):
    tool_tokens = sum(_tokens(json.dumps(tool, sort_keys=True)) for tool in TOOLS)
    assert 5500 <= tool_tokens <= 6500 and 750 <= _tokens(SYSTEM) <= 850  # the finding's agent
    tiergate, rows = _through_tiergate(anthropic_client, app, SONNET)
    assert {(row.model, len(row.attempts)) for row in rows} == {(SONNET, 1)}  # pinned, one call a turn
    sent = fake_anthropic.requests_for(SONNET)[-1].body
    assert sent["tools"][-1]["cache_control"] == {"type": "ephemeral"}  # the client's markers, forwarded
    assert sent["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert sent["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    read_through = sum(attempt.cache_read_tokens for row in rows for attempt in row.attempts)

    fake_anthropic.reset()  # a cold cache for the direct run
    direct, read_direct = _direct(fake_anthropic, SONNET)

    assert read_through == read_direct > 0
    assert tiergate <= direct


@pytest.mark.parametrize("gateway_policy", ["tools_tier1"], indirect=True)
def test_routing_to_a_cheaper_tier_keeps_the_agent_s_cache_and_costs_less_than_direct(anthropic_client, app,
                                                                                     fake_anthropic):
    tiergate, rows = _through_tiergate(anthropic_client, app, "tiergate/auto")
    assert {row.model for row in rows} == {HAIKU}  # routing put the open question on tier1
    haiku_reads = sum(attempt.cache_read_tokens for row in rows for attempt in row.attempts)
    assert haiku_reads > 0  # 6,000 tokens of tools reach Haiku's 4,096-token minimum

    fake_anthropic.reset()
    direct, _read = _direct(fake_anthropic, SONNET)  # what the agent pays on the baseline model, cached
    assert tiergate < direct
    fake_anthropic.reset()
    on_haiku, _read = _direct(fake_anthropic, HAIKU)
    assert tiergate <= on_haiku


@pytest.mark.parametrize("gateway_policy", ["live"], indirect=True)
def test_a_live_stream_forwards_the_client_s_markers_and_books_their_cache(anthropic_client, app, fake_anthropic):
    attempts = []
    for turn in range(2):
        with anthropic_client.messages.stream(model=SONNET, max_tokens=300, extra_headers=HEADERS,
                                              **_marked(turn)) as stream:
            assert stream.response.headers["x-tiergate-stream"] == "live"
            request_id = stream.response.headers["x-tiergate-request-id"]
            final = stream.get_final_message().usage
        (attempt,) = ledger(app, request_id).attempts
        assert attempt.cache_markers == "client"
        assert (final.cache_read_input_tokens, final.cache_creation_input_tokens) == (
            attempt.cache_read_tokens, attempt.cache_write_tokens)
        by_hand = (attempt.input_tokens * 3 + attempt.cache_write_tokens * Decimal("3.75")
                   + attempt.cache_read_tokens * Decimal("0.3") + attempt.output_tokens * 15) / MILLION
        assert attempt.cost_usd == by_hand
        attempts.append(attempt)
    assert fake_anthropic.requests_for(SONNET)[-1].body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert attempts[1].cache_read_tokens == attempts[0].cache_write_tokens > 0


def test_one_hour_markers_are_forwarded_and_priced_at_twice_the_input_price(anthropic_client, app, fake_anthropic):
    raw = anthropic_client.messages.with_raw_response.create(model=SONNET, max_tokens=300, extra_headers=HEADERS,
                                                             **_marked(0, ttl="1h"))
    message = raw.parse()

    sent = fake_anthropic.requests_for(SONNET)[0].body
    assert sent["tools"][-1]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    usage = message.usage
    written = usage.cache_creation.ephemeral_1h_input_tokens
    assert written > 0 and usage.cache_creation.ephemeral_5m_input_tokens == 0
    (attempt,) = ledger(app, raw.headers["x-tiergate-request-id"]).attempts
    assert (attempt.cache_write_tokens, attempt.cache_write_1h_tokens) == (written, written)
    by_hand = (usage.input_tokens * 3 + written * 3 * 2 + usage.output_tokens * 15) / MILLION
    assert attempt.cost_usd == by_hand


def test_tiergate_s_own_marker_counts_the_tool_list_toward_the_model_minimum(fake_anthropic):
    """800 tokens of system prompt alone are below Sonnet's 2,048; with 6,000 tokens of tools before them
    the prefix is cacheable, and Tiergate marks its end. Without a system prompt the last tool ends it."""
    provider = AnthropicProvider("k", fake_anthropic.url, timeout=5, max_retries=0, prices=load_policy().prices)
    question = [{"role": "user", "content": "How many units of item 1000?"}]
    alone = provider.complete(ModelCall(model=SONNET, messages=question, cached_system=SYSTEM))
    with_tools = provider.complete(ModelCall(model=SONNET, messages=question, cached_system=SYSTEM, tools=TOOLS))
    tools_only = provider.complete(ModelCall(model=SONNET, messages=question, tools=TOOLS))

    first, second, third = (request.body for request in fake_anthropic.requests)
    assert "cache_control" not in first["system"][0] and alone.cache_markers is None
    assert first.get("tools") is None
    assert second["system"][0]["cache_control"] == {"type": "ephemeral"} and with_tools.cache_markers == "tiergate"
    assert not any("cache_control" in tool for tool in second["tools"])
    tool_tokens = _tokens("".join(json.dumps(tool, sort_keys=True) for tool in TOOLS))
    assert with_tools.usage.cache_write_tokens == _tokens("".join(json.dumps(tool, sort_keys=True) for tool in TOOLS)
                                                          + SYSTEM) > tool_tokens
    assert third["tools"][-1]["cache_control"] == {"type": "ephemeral"} and tools_only.cache_markers == "tiergate"
    assert "system" not in third


def test_more_than_four_breakpoints_are_refused_naming_the_field(anthropic_client, fake_anthropic):
    body = _marked(2)
    mark = {"type": "ephemeral"}
    body["messages"][0]["content"][0]["cache_control"] = mark
    body["messages"][1]["content"][0]["cache_control"] = mark  # five in all: the agent's own on messages.4
    with pytest.raises(anthropic.BadRequestError) as refused:
        anthropic_client.messages.create(model=SONNET, max_tokens=300, **body)
    assert refused.value.status_code == 400
    assert "messages.4.content.0.cache_control" in refused.value.message  # the fifth, in prefix order
    assert "at most 4" in refused.value.message
    assert fake_anthropic.requests == []  # refused before any model call


def test_an_unknown_ttl_is_refused_naming_the_field(anthropic_client, fake_anthropic):
    body = _marked(0)
    body["system"][0]["cache_control"] = {"type": "ephemeral", "ttl": "2h"}
    with pytest.raises(anthropic.BadRequestError, match=r"system\.0\.cache_control"):
        anthropic_client.messages.create(model=SONNET, max_tokens=300, **body)
    assert fake_anthropic.requests == []


def test_the_caching_line_counts_only_what_tiergate_s_own_markers_saved(anthropic_client, openai_client, app,
                                                                       make_key):
    # The client's markers, on the baseline model itself: the cache is the client's, Tiergate saved nothing.
    for turn in range(4):
        anthropic_client.messages.create(model=SONNET, max_tokens=300, extra_headers=HEADERS, **_marked(turn))
    # No markers (the OpenAI wire has none): Tiergate places its own on a system prompt over Sonnet's minimum.
    long_system = "You are the stock assistant of a small hardware shop. " * 200
    calls = [openai_client.chat.completions.with_raw_response.create(
        model="tiergate/tier2", extra_headers=HEADERS,
        messages=[{"role": "system", "content": long_system}, {"role": "user", "content": "Hello"}]) for _ in range(2)]

    with app.extensions["store"].session() as session:
        attempts = session.execute(select(Attempt.request_id, Attempt.cache_markers, Attempt.cache_read_tokens,
                                          Attempt.cache_write_tokens)).all()
    own = {call.headers["x-tiergate-request-id"] for call in calls}
    client_side = [a for a in attempts if a.request_id not in own]
    assert {a.cache_markers for a in client_side} == {"client"}
    assert sum(a.cache_read_tokens for a in client_side) > 0  # the client's cache did work
    ours = [a for a in attempts if a.request_id in own]
    assert {a.cache_markers for a in ours} == {"tiergate"}
    written = sum(a.cache_write_tokens for a in ours)
    read = sum(a.cache_read_tokens for a in ours)
    assert written == read > 0

    report = app.test_client().get("/v1/reports/savings", headers={"X-API-Key": make_key(["admin"])}).get_json()
    # Tiergate's markers: a read saves 0.9 of the input price, a write costs 0.25 more; Sonnet $3/M.
    by_hand = (read * Decimal("0.9") - written * Decimal("0.25")) * 3 / MILLION
    assert Decimal(str(report["attribution"]["caching_usd"])) == by_hand.quantize(Decimal("0.000001"))
    # The client-cached calls ran on the baseline model: their saving is nil, so the whole saving is
    # what Tiergate's own cache saved.
    assert Decimal(str(report["total"]["saving_usd"])) == by_hand.quantize(Decimal("0.000001"))
