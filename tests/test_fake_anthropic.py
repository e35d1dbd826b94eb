"""The fake Messages API behaves like the real one as far as the real SDK can tell."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import anthropic
import jsonschema
import pytest

from app.policy import load_policy
from tests.support.fake_anthropic import FakeAnthropic, Reply
from tests.support.sme_responder import sme_responder

# 5 tokens a repeat: 1,100 tokens, over the 1,024-token minimum of a model without its own entry.
CACHED = {"type": "text", "text": "You classify leads. " * 220, "cache_control": {"type": "ephemeral"}}


def client(fake: FakeAnthropic, **options) -> anthropic.Anthropic:
    options.setdefault("timeout", 2.0)
    options.setdefault("max_retries", 0)
    return anthropic.Anthropic(api_key="test-key", base_url=fake.url, **options)


def ask(sdk: anthropic.Anthropic, model: str = "m1", text: str = "hello", system=None):
    extra = {"system": system} if system else {}
    return sdk.messages.create(model=model, max_tokens=50, messages=[{"role": "user", "content": text}], **extra)


def test_scripted_replies_come_per_model_in_order_then_the_responder(fake_anthropic):
    fake_anthropic.script("m1", "first", Reply.ok("second", 7, 3))
    fake_anthropic.script("m2", "other model")
    sdk = client(fake_anthropic)
    assert ask(sdk, "m1").content[0].text == "first"
    assert ask(sdk, "m2").content[0].text == "other model"
    second = ask(sdk, "m1")
    assert (second.content[0].text, second.usage.input_tokens, second.usage.output_tokens) == ("second", 7, 3)
    assert ask(sdk, "m1", "hello there").content[0].text == "Fake answer: hello there"
    assert fake_anthropic.pending("m1") == 0


def test_every_request_is_recorded_with_system_blocks_and_headers(fake_anthropic):
    ask(client(fake_anthropic), "m1", "the input", system=[CACHED, {"type": "text", "text": "Allowed labels: a, b"}])
    recorded = fake_anthropic.requests_for("m1")[0]
    assert recorded.cached_system == [CACHED["text"]]
    assert recorded.uncached_system == ["Allowed labels: a, b"]
    assert recorded.user_text == "the input"
    # This SDK generation sends the key as a bearer token; older ones used x-api-key.
    assert "test-key" in (recorded.headers.get("x-api-key", "") + recorded.headers.get("authorization", ""))
    assert "anthropic-version" in recorded.headers


def test_default_usage_imitates_the_prompt_cache(fake_anthropic):
    sdk = client(fake_anthropic)
    first = ask(sdk, "m1", system=[CACHED]).usage
    second = ask(sdk, "m1", system=[CACHED]).usage
    prefix_tokens = (len(CACHED["text"]) + 3) // 4
    assert (first.cache_creation_input_tokens, first.cache_read_input_tokens) == (prefix_tokens, 0)
    assert (second.cache_creation_input_tokens, second.cache_read_input_tokens) == (0, prefix_tokens)
    assert first.input_tokens == second.input_tokens == 2  # "hello"
    assert (first.cache_creation.ephemeral_5m_input_tokens, first.cache_creation.ephemeral_1h_input_tokens) == (
        prefix_tokens, 0)


def test_a_prefix_below_the_model_minimum_is_not_cached_and_billed_as_input(fake_anthropic):
    """Haiku 4.5 caches from 4,096 tokens: a 1,100-token marked prefix is plain input, every time."""
    sdk = client(fake_anthropic)
    prefix_tokens = (len(CACHED["text"]) + 3) // 4
    for _ in range(2):
        usage = ask(sdk, "claude-haiku-4-5", system=[CACHED]).usage
        assert (usage.cache_creation_input_tokens, usage.cache_read_input_tokens) == (0, 0)
        assert usage.input_tokens == prefix_tokens + 2


def test_a_one_hour_write_is_reported_in_the_breakdown(fake_anthropic):
    sdk = client(fake_anthropic)
    block = {**CACHED, "cache_control": {"type": "ephemeral", "ttl": "1h"}}
    usage = ask(sdk, "m1", system=[block]).usage
    prefix_tokens = (len(CACHED["text"]) + 3) // 4
    assert usage.cache_creation_input_tokens == prefix_tokens
    assert (usage.cache_creation.ephemeral_5m_input_tokens, usage.cache_creation.ephemeral_1h_input_tokens) == (
        0, prefix_tokens)


TOOL = {"name": "lookup", "description": "Look a customer up. " * 250,  # 5,000 characters: 1,250+ tokens
        "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}


def _agent_call(sdk, turns: list[dict], *, ttl: str | None = None, model: str = "m1"):
    marker = {"type": "ephemeral", **({"ttl": ttl} if ttl else {})}
    last = turns[-1]
    marked = [*turns[:-1], {"role": last["role"], "content": [{"type": "text", "text": last["content"],
                                                               "cache_control": marker}]}]
    return sdk.messages.create(model=model, max_tokens=50, tools=[{**TOOL, "cache_control": marker}],
                               system="Be brief.", messages=marked).usage


def test_markers_on_tools_and_messages_cache_the_prefix_up_to_each_breakpoint(fake_anthropic):
    """Tools come first in the prefix; a conversation that grows reads what the last turn wrote."""
    sdk = client(fake_anthropic)
    tool_tokens = (len(json.dumps(TOOL, sort_keys=True)) + 3) // 4
    turns = [{"role": "user", "content": "Who is customer 42?"}]
    first = _agent_call(sdk, turns)
    assert first.cache_read_input_tokens == 0
    assert first.cache_creation_input_tokens > tool_tokens  # tools + system + the marked turn
    assert first.input_tokens == 0  # nothing after the last breakpoint
    turns += [{"role": "assistant", "content": "Looking."}, {"role": "user", "content": "And customer 43?"}]
    second = _agent_call(sdk, turns)
    assert second.cache_read_input_tokens == first.cache_creation_input_tokens  # the whole first prefix
    assert second.cache_creation_input_tokens > 0 and second.input_tokens == 0
    # The same tokens, however they are split.
    assert (second.cache_read_input_tokens + second.cache_creation_input_tokens
            > first.cache_read_input_tokens + first.cache_creation_input_tokens)


def test_cache_entries_live_five_minutes_or_an_hour(fake_anthropic):
    sdk = client(fake_anthropic)
    turns = [{"role": "user", "content": "Who is customer 42?"}]
    written = _agent_call(sdk, turns).cache_creation_input_tokens
    fake_anthropic.advance(299)
    assert _agent_call(sdk, turns).cache_read_input_tokens == written  # read, and renewed for 5 minutes
    fake_anthropic.advance(301)
    expired = _agent_call(sdk, turns)
    assert (expired.cache_read_input_tokens, expired.cache_creation_input_tokens) == (0, written)
    long_lived = _agent_call(sdk, turns, ttl="1h", model="m2")
    assert (long_lived.cache_creation.ephemeral_1h_input_tokens, long_lived.cache_creation.ephemeral_5m_input_tokens) == (
        written, 0)
    fake_anthropic.advance(3000)
    assert _agent_call(sdk, turns, ttl="1h", model="m2").cache_read_input_tokens == written


def test_more_than_four_breakpoints_are_refused_like_the_api(fake_anthropic):
    sdk = client(fake_anthropic)
    marked = {"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}
    with pytest.raises(anthropic.BadRequestError, match="A maximum of 4 blocks with cache_control"):
        sdk.messages.create(model="m1", max_tokens=5, system=[marked] * 3,
                            messages=[{"role": "user", "content": [marked, marked]}])


def test_rate_limit_is_retried_by_the_sdk_after_retry_after(fake_anthropic):
    fake_anthropic.script("m1", Reply.rate_limited(retry_after=0.4), "ok now")
    assert ask(client(fake_anthropic, max_retries=1)).content[0].text == "ok now"
    first, second = fake_anthropic.requests_for("m1")
    assert second.at - first.at >= 0.4
    assert second.headers["x-stainless-retry-count"] == "1"


@pytest.mark.parametrize("reply, error", [
    (Reply.overloaded(), anthropic.OverloadedError),
    (Reply.server_error(), anthropic.InternalServerError),
    (Reply.error(400, "bad"), anthropic.BadRequestError),
])
def test_error_replies_reach_the_sdk_as_its_typed_errors(fake_anthropic, reply, error):
    fake_anthropic.script("m1", reply)
    with pytest.raises(error):
        ask(client(fake_anthropic))


def test_a_hang_outlasts_the_client_timeout(fake_anthropic):
    fake_anthropic.script("m1", Reply.hang(5))
    started = time.monotonic()
    with pytest.raises(anthropic.APITimeoutError):
        ask(client(fake_anthropic, timeout=0.5))
    assert time.monotonic() - started < 2


def test_a_malformed_body_fails_to_parse(fake_anthropic):
    fake_anthropic.script("m1", Reply.malformed())
    with pytest.raises(ValueError):
        ask(client(fake_anthropic))


def test_message_batches_create_retrieve_and_results(fake_anthropic):
    fake_anthropic.script("m1", "batched answer", Reply.server_error())
    sdk = client(fake_anthropic)
    params = {"model": "m1", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]}
    batch = sdk.messages.batches.create(requests=[{"custom_id": "a", "params": params},
                                                  {"custom_id": "b", "params": params}])
    assert sdk.messages.batches.retrieve(batch.id).processing_status == "ended"
    results = {item.custom_id: item.result for item in sdk.messages.batches.results(batch.id)}
    assert results["a"].type == "succeeded" and results["a"].message.content[0].text == "batched answer"
    assert results["b"].type == "errored"
    assert batch.request_counts.succeeded == 1 and batch.request_counts.errored == 1


def _body(system: str, text: str) -> dict:
    return {"model": "m", "system": [{"type": "text", "text": system}], "messages": [{"role": "user", "content": text}]}


def test_sme_responder_answers_the_recipe_prompts_so_their_gates_pass():
    policy = load_policy()
    tasks = policy.task_types
    label = json.loads(sme_responder(_body(tasks["classification"].prompt + "\nAllowed labels: B2B, B2C, Unsure",
                                           "ACME GmbH (B2B) wants 40 seats")))
    assert label["label"] == "B2B" and label["confidence"] >= 0.75
    record = json.loads(sme_responder(_body(tasks["crm_cleanup"].prompt,
                                            "jane DOE, acme gmbh., jane@acme.de, +49 30 1234567, Germany")))
    jsonschema.validate(record, tasks["crm_cleanup"].output_schema)
    assert record == {"company": "Acme GmbH", "first_name": "Jane", "last_name": "Doe", "email": "jane@acme.de",
                      "email_valid": True, "phone": "+49301234567", "country": "DE"}
    reply = sme_responder(_body(tasks["support_reply"].prompt, "My parcel never arrived. Help!"))
    assert "My parcel never arrived." in reply and len(reply) >= 20
    verdict = json.loads(sme_responder(_body('Answer with JSON only: {"pass": true or false}', "x")))
    assert verdict["pass"] is True


def test_command_line_server_serves_the_sdk(project_root):
    process = subprocess.Popen([sys.executable, "-m", "tests.support.fake_anthropic", "--port", "0"],
                               stdout=subprocess.PIPE, text=True, cwd=project_root)
    try:
        line = process.stdout.readline()
        url = line.split(" on ")[1].split(" ")[0]
        sdk = anthropic.Anthropic(api_key="k", base_url=url, max_retries=0, timeout=5)
        answer = sdk.messages.create(model="m", max_tokens=20, messages=[{"role": "user", "content": "ping"}])
        assert answer.content[0].text == "Fake answer: ping"
    finally:
        process.terminate()
        process.wait(timeout=5)
