"""The first hour of a self-hoster's client against Tiergate (issue 22): the OpenAI Responses API through
the official SDK and LangChain, the Anthropic SDK's token count, a 404 that spots a wrong Base URL, and
``tiergate/auto`` routed like ``/v1/route``.

Tiergate runs on a real socket (tests/support/gateway_app.py); the tiers' models are the fake Messages API.
"""
from __future__ import annotations

import json

import anthropic
import jsonschema
import openai
import pytest
import requests
from pydantic import BaseModel

from tests.support.fake_anthropic import Reply
from tests.support.gateway_app import (anthropic_client, app, fake_openai, gateway_key,  # noqa: F401
                                       gateway_policy, ledger, openai_client, server)

SONNET, HAIKU = "claude-sonnet-4-6", "claude-haiku-4-5"
CALCULATOR = {"type": "function", "name": "calculator", "description": "Evaluate an arithmetic expression",
              "parameters": {"type": "object", "properties": {"expression": {"type": "string"}},
                             "required": ["expression"], "additionalProperties": False}, "strict": True}
CONTACT_SCHEMA = {"type": "object", "required": ["name", "email"], "additionalProperties": False,
                  "properties": {"name": {"type": "string"}, "email": {"type": "string"}}}
# The documented order of a streamed text answer (OpenAI's "Streaming events" reference).
TEXT_STREAM_ORDER = ["response.created", "response.in_progress", "response.output_item.added",
                     "response.content_part.added", "response.output_text.delta", "response.output_text.done",
                     "response.content_part.done", "response.output_item.done", "response.completed"]


def _collapse(kinds: list[str]) -> list[str]:
    """Event types with runs of the same type folded into one."""
    return [kind for index, kind in enumerate(kinds) if index == 0 or kinds[index - 1] != kind]


# -- POST /v1/responses with the official SDK ----------------------------------------------------------
def test_responses_plain_call_is_routed_answered_and_in_the_ledger(openai_client, app, fake_anthropic):
    raw = openai_client.responses.with_raw_response.create(
        model="tiergate/tier1", instructions="You are terse.", input="Say hello to Ada", max_output_tokens=300)
    response = raw.parse()

    assert response.output_text == "Fake answer: Say hello to Ada"
    assert response.status == "completed" and response.model == HAIKU
    request_id = raw.headers["x-tiergate-request-id"]
    assert response.id == f"resp_{request_id}"
    (item,) = response.output
    assert item.type == "message" and item.role == "assistant" and item.content[0].type == "output_text"
    (sent,) = fake_anthropic.requests
    assert sent.uncached_system[0].startswith("You are terse.") and sent.body["max_tokens"] == 300
    assert sent.messages == [{"role": "user", "content": [{"type": "text", "text": "Say hello to Ada"}]}]
    row = ledger(app, request_id)
    assert (row.kind, row.status, row.tier, row.model) == ("gateway", "done", "tier1", HAIKU)
    assert response.usage.input_tokens == row.attempts[0].input_tokens + row.attempts[0].cache_write_tokens
    assert response.usage.output_tokens == row.attempts[0].output_tokens > 0


def test_responses_input_items_with_system_and_assistant_turns(openai_client, fake_anthropic):
    response = openai_client.responses.create(model="tiergate/tier1", input=[
        {"role": "developer", "content": "Answer in one line."},
        {"role": "user", "content": [{"type": "input_text", "text": "Hi, I am Grace."}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hello Grace."}]},
        {"role": "user", "content": "Say goodbye to Grace"}])

    assert response.output_text.endswith("Say goodbye to Grace")
    sent = fake_anthropic.requests[0]
    assert sent.uncached_system[0].startswith("Answer in one line.")
    assert [message["role"] for message in sent.messages] == ["user", "assistant", "user"]


def test_responses_stream_follows_the_documented_event_order(openai_client):
    stream = openai_client.responses.create(
        model="tiergate/tier1", stream=True,
        input="Write a long greeting for our newest customer, Grace Hopper, who joins us today")
    events = list(stream)

    assert _collapse([event.type for event in events]) == TEXT_STREAM_ORDER
    assert [event.sequence_number for event in events] == list(range(len(events)))
    deltas = [event.delta for event in events if event.type == "response.output_text.delta"]
    text = "Fake answer: Write a long greeting for our newest customer, Grace Hopper, who joins us today"
    assert len(deltas) > 1 and "".join(deltas) == text
    assert events[0].response.status == "in_progress" and events[0].response.output == []
    final = events[-1].response
    assert final.status == "completed" and final.output_text == text and final.usage.output_tokens > 0
    assert final.id == events[0].response.id


def test_responses_stream_helper_accumulates_the_final_response(openai_client):
    prompt = "Tell a story about a lighthouse keeper"
    with openai_client.responses.stream(model="tiergate/tier1", input=prompt) as stream:
        pieces = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()

    assert "".join(pieces) == final.output_text == "Fake answer: Tell a story about a lighthouse keeper"


@pytest.mark.parametrize("gateway_policy", ["live"], indirect=True)
def test_responses_stream_is_relayed_live_and_recorded(openai_client, app, fake_anthropic):
    raw = openai_client.responses.with_raw_response.create(
        model="tiergate/tier1", stream=True, input="Tell me about the lighthouse on the northern cape")
    events = list(raw.parse())

    assert raw.headers["x-tiergate-stream"] == "live" and fake_anthropic.requests[0].body["stream"] is True
    assert _collapse([event.type for event in events]) == TEXT_STREAM_ORDER
    final = events[-1].response
    assert final.output_text == "Fake answer: Tell me about the lighthouse on the northern cape"
    assert final.id == f"resp_{raw.headers['x-tiergate-request-id']}" and final.usage.output_tokens > 0
    row = ledger(app, raw.headers["x-tiergate-request-id"])
    assert (row.status, row.attempts[0].reason) == ("done", "streamed live: gates not applied")


@pytest.mark.parametrize("gateway_policy", ["live"], indirect=True)
def test_a_live_stream_that_breaks_ends_with_response_failed(openai_client, app, fake_anthropic):
    broken = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in [
        ("message_start", {"type": "message_start", "message": {
            "id": "msg_1", "type": "message", "role": "assistant", "model": HAIKU, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 12, "output_tokens": 1}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "The lighthouse"}}),
        ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})])
    fake_anthropic.script(HAIKU, Reply(raw_body=broken.encode(), content_type="text/event-stream"))

    raw = openai_client.responses.with_raw_response.create(
        model="tiergate/tier1", stream=True, input="Tell me about the lighthouse on the northern cape")
    events = list(raw.parse())

    assert [event.delta for event in events if event.type == "response.output_text.delta"] == ["The lighthouse"]
    assert events[-1].type == "response.failed" and "mid-answer" in events[-1].response.error.message
    assert ledger(app, raw.headers["x-tiergate-request-id"]).status == "failed"


def test_responses_function_tool_round_trip(openai_client, fake_anthropic):
    conversation = [{"role": "user", "content": "What is 17 * 23? Use the calculator."}]
    first = openai_client.responses.create(model="tiergate/auto", input=conversation, tools=[CALCULATOR])

    (call,) = [item for item in first.output if item.type == "function_call"]
    assert call.name == "calculator" and json.loads(call.arguments) == {"expression": "17 * 23"}
    assert fake_anthropic.requests[0].body["tools"][0]["input_schema"] == CALCULATOR["parameters"]
    assert fake_anthropic.requests[0].model == SONNET  # tools offered: at least tier2

    conversation += [item.model_dump(exclude_none=True) for item in first.output]
    conversation.append({"type": "function_call_output", "call_id": call.call_id, "output": "391"})
    second = openai_client.responses.create(model="tiergate/auto", input=conversation, tools=[CALCULATOR])

    assert second.output_text == "The result is 391."
    sent = fake_anthropic.requests[1].messages
    assert sent[1]["content"][-1] == {"type": "tool_use", "id": call.call_id, "name": "calculator",
                                      "input": {"expression": "17 * 23"}}
    assert sent[2]["content"][0] == {"type": "tool_result", "tool_use_id": call.call_id, "content": "391"}


def test_responses_streamed_function_call(openai_client):
    stream = openai_client.responses.create(model="tiergate/tier2", stream=True, tools=[CALCULATOR],
                                            input="Compute 6 * 7 please")
    events = list(stream)

    kinds = _collapse([event.type for event in events])
    assert kinds[kinds.index("response.output_item.added") + 1:] == [
        "response.function_call_arguments.delta", "response.function_call_arguments.done",
        "response.output_item.done", "response.completed"]
    added = next(event for event in events if event.type == "response.output_item.added").item
    assert added.type == "function_call" and added.name == "calculator" and added.arguments == ""
    arguments = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert json.loads(arguments) == {"expression": "6 * 7"}
    (call,) = events[-1].response.output
    assert call.type == "function_call" and call.call_id == added.call_id and json.loads(call.arguments) == {
        "expression": "6 * 7"}


def test_responses_structured_output_is_gated_against_the_schema(openai_client, app, fake_anthropic):
    raw = openai_client.responses.with_raw_response.create(
        model="tiergate/auto", input="Contact: Ada Lovelace, ada@example.com",
        text={"format": {"type": "json_schema", "name": "contact", "schema": CONTACT_SCHEMA, "strict": True}})
    response = raw.parse()

    jsonschema.validate(json.loads(response.output_text), CONTACT_SCHEMA)
    assert response.text.format.type == "json_schema"
    assert fake_anthropic.requests[0].body["output_config"] == {"format": {"type": "json_schema",
                                                                           "schema": CONTACT_SCHEMA}}
    gates = [gate["gate"] for gate in ledger(app, raw.headers["x-tiergate-request-id"]).attempts[0].gate_results]
    assert gates == ["non_empty", "json", "schema"]


class Contact(BaseModel):
    name: str
    email: str


def test_responses_parse_with_a_pydantic_model(openai_client):
    parsed = openai_client.responses.parse(model="tiergate/auto", input="Contact: Grace Hopper, grace@navy.mil",
                                           text_format=Contact)

    assert isinstance(parsed.output_parsed, Contact) and parsed.output_parsed.name


def test_responses_previous_response_id_continues_from_the_ledger(openai_client, fake_anthropic, server, make_key):
    first = openai_client.responses.create(model="tiergate/tier1", instructions="Be kind.",
                                           input="My name is Ada Lovelace.")
    second = openai_client.responses.create(model="tiergate/tier1", previous_response_id=first.id,
                                            input="What is my name?")

    assert second.previous_response_id == first.id
    assert second.output_text.endswith("What is my name?")
    sent = fake_anthropic.requests[1]
    assert sent.messages == [
        {"role": "user", "content": [{"type": "text", "text": "My name is Ada Lovelace."}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Fake answer: My name is Ada Lovelace."}]},
        {"role": "user", "content": [{"type": "text", "text": "What is my name?"}]}]
    assert not any("Be kind." in text for text in sent.uncached_system)  # instructions are not carried over

    third = openai_client.responses.create(model="tiergate/tier1", previous_response_id=second.id, input="Thanks")
    assert len(fake_anthropic.requests[2].messages) == 5 and third.output_text.endswith("Thanks")

    with openai.OpenAI(base_url=server + "/v1", api_key=make_key(["gateway"], name="other"), max_retries=0) as other:
        with pytest.raises(openai.NotFoundError) as caught:
            other.responses.create(model="tiergate/tier1", previous_response_id=first.id, input="Who am I?")
    assert caught.value.body["param"] == "previous_response_id"
    with pytest.raises(openai.NotFoundError):
        openai_client.responses.create(model="tiergate/tier1", previous_response_id="resp_req_nope", input="Hi")


def test_continuing_a_held_answer_sends_what_the_client_saw_not_the_draft(openai_client, app, fake_anthropic):
    held = openai_client.responses.with_raw_response.create(
        model="tiergate/auto", input="My parcel never arrived, please help",
        extra_headers={"X-Tiergate-Task-Type": "support_reply"})
    notice = held.parse().output_text
    draft = ledger(app, held.headers["x-tiergate-request-id"]).attempts[-1].output_text

    assert notice.startswith("This answer is held for review") and held.headers["x-tiergate-review-id"] and draft
    openai_client.responses.create(model="tiergate/auto", previous_response_id=held.parse().id, input="Any news?")
    sent = fake_anthropic.requests[-1].messages
    assert sent[1] == {"role": "assistant", "content": [{"type": "text", "text": notice}]}
    assert not [block for message in sent for block in message["content"] if draft in block.get("text", "")]


@pytest.mark.parametrize("body, field", [
    ({"model": "tiergate/auto"}, "input"),
    ({"model": "tiergate/auto", "input": 7}, "input"),
    ({"model": "tiergate/auto", "input": [{"type": "web_search_call"}]}, "input[0].type"),
    ({"model": "tiergate/auto", "input": "Hi", "tools": [{"type": "web_search"}]}, "tools[0].type"),
    ({"model": "tiergate/auto", "input": "Hi", "text": {"format": {"type": "json_schema"}}}, "text.format.schema"),
    ({"model": "tiergate/auto", "input": [{"type": "function_call_output", "output": "1"}]}, "input[0].call_id"),
    ({"model": "tiergate/auto", "input": "Hi", "previous_response_id": "chatcmpl-1"}, "previous_response_id"),
])
def test_responses_bad_input_names_the_field_in_openai_shape(server, gateway_key, body, field):
    answer = requests.post(server + "/v1/responses", json=body, headers={"Authorization": f"Bearer {gateway_key}"},
                           timeout=10)

    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["param"] == field and error["type"] == "invalid_request_error" and field in error["message"]


def test_responses_needs_the_gateway_scope(server, make_key):
    with openai.OpenAI(base_url=server + "/v1", api_key=make_key(["route"], name="router"), max_retries=0) as client:
        with pytest.raises(openai.PermissionDeniedError):
            client.responses.create(model="tiergate/auto", input="Hello")


# -- LangChain ChatOpenAI on the Responses API -----------------------------------------------------------
def _langchain(server: str, key: str):
    from langchain_openai import ChatOpenAI  # the test extra installs it

    return ChatOpenAI(model="tiergate/auto", base_url=server + "/v1", api_key=key, use_responses_api=True,
                      max_retries=0, timeout=20)


def test_langchain_chat_openai_with_the_responses_api(server, gateway_key):
    chat = _langchain(server, gateway_key)

    assert chat.invoke("Say hello to Ada").text == "Fake answer: Say hello to Ada"
    streamed = "".join(chunk.text for chunk in chat.stream("Tell a story about a lighthouse keeper"))
    assert streamed == "Fake answer: Tell a story about a lighthouse keeper"


def test_langchain_responses_api_tool_round_trip(server, gateway_key):
    from langchain_core.messages import HumanMessage, ToolMessage

    chat = _langchain(server, gateway_key).bind_tools([CALCULATOR])
    messages = [HumanMessage("What is 17 * 23? Use the calculator.")]
    first = chat.invoke(messages)

    (call,) = first.tool_calls
    assert call["name"] == "calculator" and call["args"] == {"expression": "17 * 23"}
    messages += [first, ToolMessage("391", tool_call_id=call["id"])]
    assert chat.invoke(messages).text == "The result is 391."


# -- POST /v1/messages/count_tokens with the Anthropic SDK ------------------------------------------------
def test_anthropic_count_tokens(anthropic_client, fake_anthropic):
    short = anthropic_client.messages.count_tokens(model="tiergate/auto",
                                                   messages=[{"role": "user", "content": "Hello"}])
    longer = anthropic_client.messages.count_tokens(
        model="tiergate/auto", system="You are the support assistant of Acme. " * 50,
        messages=[{"role": "user", "content": "Hello"}],
        tools=[{"name": "lookup_order", "description": "Find an order",
                "input_schema": {"type": "object", "properties": {"order_id": {"type": "integer"}}}}])

    assert 0 < short.input_tokens < 20
    assert longer.input_tokens > short.input_tokens + 400  # 2,000 characters of system prompt, and the tool
    assert fake_anthropic.requests == []  # counted here, no model was called


def test_anthropic_count_tokens_is_validated_like_messages(anthropic_client):
    with pytest.raises(anthropic.NotFoundError) as unknown:
        anthropic_client.messages.count_tokens(model="claude-nope", messages=[{"role": "user", "content": "Hi"}])
    assert "tiergate/auto" in unknown.value.message
    with pytest.raises(anthropic.BadRequestError) as bad:
        anthropic_client.messages.count_tokens(model="tiergate/auto", messages=[])
    assert bad.value.body["error"]["message"].startswith("messages:")
    with pytest.raises(anthropic.BadRequestError) as role:
        anthropic_client.messages.count_tokens(model="tiergate/auto", messages=[{"role": "robot", "content": "x"}])
    assert "messages.0.role" in role.value.message
    with pytest.raises(anthropic.BadRequestError) as tools:
        anthropic_client.messages.count_tokens(model="tiergate/auto", messages=[{"role": "user", "content": "Hi"}],
                                               tools=1)
    assert tools.value.body["error"]["message"].startswith("tools:")


# -- a 404 that spots a wrong Base URL -------------------------------------------------------------------
def test_openai_client_without_v1_is_told_to_fix_its_base_url(server, gateway_key):
    with openai.OpenAI(base_url=server, api_key=gateway_key, max_retries=0) as client:
        with pytest.raises(openai.NotFoundError) as caught:
            client.chat.completions.create(model="tiergate/auto", messages=[{"role": "user", "content": "Hi"}])

    message = caught.value.message
    assert "Did you mean /v1/chat/completions?" in message and f"{server}/v1" in message and "Base URL" in message
    assert caught.value.body["code"] == "unknown_url"
    assert "POST /v1/responses" in caught.value.response.json()["endpoints"]


def test_openai_client_with_v1_doubled_is_told_to_fix_its_base_url(server, gateway_key):
    with openai.OpenAI(base_url=server + "/v1/v1", api_key=gateway_key, max_retries=0) as client:
        with pytest.raises(openai.NotFoundError) as caught:
            client.responses.create(model="tiergate/auto", input="Hi")

    assert "/v1 appears twice. Did you mean /v1/responses?" in caught.value.message


def test_anthropic_client_with_v1_in_its_base_url_gets_the_hint_in_anthropic_shape(server, gateway_key):
    with anthropic.Anthropic(base_url=server + "/v1", api_key=gateway_key, max_retries=0) as client:
        with pytest.raises(anthropic.NotFoundError) as caught:
            client.messages.create(model="tiergate/auto", max_tokens=10, messages=[{"role": "user", "content": "Hi"}])

    body = caught.value.response.json()
    assert body["type"] == "error" and body["error"]["type"] == "not_found_error"
    assert "Did you mean /v1/messages?" in body["error"]["message"]
    assert f"Base URL is {server} (without /v1)" in body["error"]["message"]


def test_base_url_with_another_prefix_is_pointed_at_the_served_endpoint(server, gateway_key):
    with openai.OpenAI(base_url=server + "/api/v1", api_key=gateway_key, max_retries=0) as client:
        with pytest.raises(openai.NotFoundError) as caught:
            client.chat.completions.create(model="tiergate/auto", messages=[{"role": "user", "content": "Hi"}])

    assert "Did you mean /v1/chat/completions?" in caught.value.message and f"{server}/v1" in caught.value.message


def test_unknown_api_path_lists_the_served_endpoints(server):
    answer = requests.get(server + "/v1/chat/completion", timeout=10)

    assert answer.status_code == 404 and answer.headers["Content-Type"] == "application/json"
    body = answer.json()
    assert {"POST /v1/chat/completions", "POST /v1/messages", "POST /v1/messages/count_tokens",
            "POST /v1/responses", "POST /v1/route", "GET /v1/models"} <= set(body["endpoints"])
    assert body["error"]["code"] == "not_found" and "not a Tiergate endpoint" in body["error"]["message"]
    # Paths outside the API keep the plain answer.
    plain = requests.get(server + "/no-such-page", timeout=10)
    assert plain.status_code == 404 and "endpoints" not in plain.json()


# -- tiergate/auto routed like /v1/route ----------------------------------------------------------------
QUESTION = "What time is it in Berlin?"  # no keyword says what it is: the rules would start it on tier2


def test_tiergate_auto_lands_where_v1_route_puts_the_same_text(openai_client, server, make_key):
    route = requests.post(server + "/v1/route", json={"text": QUESTION}, timeout=10,
                          headers={"X-API-Key": make_key(["route"], name="route")}).json()
    chat = openai_client.chat.completions.with_raw_response.create(
        model="tiergate/auto", messages=[{"role": "user", "content": QUESTION}])
    response = openai_client.responses.with_raw_response.create(model="tiergate/auto", input=QUESTION)
    rules = openai_client.chat.completions.with_raw_response.create(
        model="tiergate/auto", messages=[{"role": "user", "content": QUESTION}],
        extra_headers={"X-Tiergate-Mode": "rules"})

    assert route["tier"] == "tier1" and route["model"] == HAIKU  # the learned router: a plain question is cheap
    assert chat.headers["x-tiergate-tier"] == response.headers["x-tiergate-tier"] == route["tier"]
    assert chat.parse().model == HAIKU
    # X-Tiergate-Mode still picks another mode: the rules start an unknown task type on the safe middle.
    assert rules.headers["x-tiergate-tier"] == "tier2"
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.chat.completions.create(model="tiergate/auto", messages=[{"role": "user", "content": "Hi"}],
                                              extra_headers={"X-Tiergate-Mode": "guess"})
    assert "mode" in caught.value.message
