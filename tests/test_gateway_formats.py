"""Translation between the OpenAI format, the gateway's Anthropic-shaped messages and back, and chat routing."""
from __future__ import annotations

import pytest

from app.gateway import models, openai_format
from app.providers import openai_wire
from app.gateway.chat import ChatRequest
from app.gateway.routing import apply_chat_rules
from app.policy import load_policy
from app.routing import RouteInput, RulesRouter

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


@pytest.fixture(scope="module")
def policy():
    return load_policy(None)


def test_openai_conversation_becomes_anthropic_blocks_and_back():
    chat = openai_format.parse_request({"model": "tiergate/auto", "stop": "END", "parallel_tool_calls": False,
                                        "tool_choice": "required", "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "text", "text": "Use tools."}]},
        {"role": "user", "content": [{"type": "text", "text": "What is in this image?"},
                                     {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "a", "arguments": "{\"x\": 1}"}},
            {"id": "c2", "type": "function", "function": {"name": "b", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "one"},
        {"role": "tool", "tool_call_id": "c2", "content": "two"},
    ]})

    assert chat.system == "Be brief.\n\nUse tools."
    assert chat.stop == ["END"] and chat.tool_choice == {"type": "any", "disable_parallel_tool_use": True}
    user, assistant, results = chat.messages
    assert user["content"][1] == {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    assert [b["id"] for b in assistant["content"]] == ["c1", "c2"] and assistant["content"][0]["input"] == {"x": 1}
    assert results == {"role": "user", "content": [  # consecutive tool messages: one user turn
        {"type": "tool_result", "tool_use_id": "c1", "content": "one"},
        {"type": "tool_result", "tool_use_id": "c2", "content": "two"}]}

    back = openai_wire.provider_messages(chat.system, chat.messages)
    assert back[0] == {"role": "system", "content": "Be brief.\n\nUse tools."}
    assert back[1]["content"][1] == {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}
    assert [call["id"] for call in back[2]["tool_calls"]] == ["c1", "c2"]
    assert back[3:] == [{"role": "tool", "tool_call_id": "c1", "content": "one"},
                        {"role": "tool", "tool_call_id": "c2", "content": "two"}]


def _decide(policy, chat: ChatRequest, model: str, input_tokens: int | None = None):
    decision = RulesRouter(policy).decide(RouteInput(text=chat.transcript(), input_tokens=input_tokens))
    return apply_chat_rules(decision, chat, models.resolve(model, policy), policy)


def test_tools_and_long_context_raise_the_tier_and_a_model_name_sets_it(policy):
    translate = ChatRequest(model="tiergate/auto", messages=[{"role": "user", "content": "Translate this into German"}])
    with_tools = ChatRequest(model="tiergate/auto", messages=translate.messages,
                             tools=[{"name": "glossary", "input_schema": {"type": "object"}}])

    assert _decide(policy, translate, "tiergate/auto").tier == "tier1"
    assert _decide(policy, with_tools, "tiergate/auto").tier == "tier2"
    long = _decide(policy, translate, "tiergate/auto", input_tokens=60_000)
    assert long.tier == "tier3" and [r["rule"] for r in long.reasons][-1] == "long_context"
    pinned = _decide(policy, with_tools, "claude-haiku-4-5")
    assert (pinned.tier, pinned.model, pinned.reasons[-1]["rule"]) == ("tier1", "claude-haiku-4-5", "model_name")
    assert "routing chose tier2" in pinned.reasons[-1]["detail"]


def test_model_names(policy):
    assert models.resolve("tiergate/auto", policy) == models.ModelChoice("tiergate/auto")
    assert models.resolve("tiergate/tier3", policy).tier == "tier3"
    assert models.resolve("claude-sonnet-4-6", policy) == models.ModelChoice("claude-sonnet-4-6", "tier2", True)
