"""Routing for chat traffic: the rules read the whole conversation, then the gateway's own rules apply.

The router sees the system prompt, every turn (tool calls and results included, as text) and the names
of the tools offered. On top of the policy's upgrade rules, two rules of the policy's ``gateway``
section: a call that offers tools starts at least on ``tools_min_tier`` (choosing a tool and filling
its arguments is more than a format rewrite), and a conversation over ``long_context_tokens`` starts
at least on ``long_context_min_tier``. A fixed model name (``tiergate/tier2``, a pinned model) then
sets the tier; the decision keeps its reasons, so the ledger shows what routing would have chosen.
"""
from __future__ import annotations

from app.gateway.chat import ChatRequest, block_text
from app.gateway.models import ModelChoice
from app.policy.schema import Policy
from app.pricing import Usage
from app.routing import RouteDecision


def route_text(chat: ChatRequest) -> str:
    """What routing reads: the system prompt and every turn as plain text, plus the tools on offer.

    No role labels, as ``/v1/route`` reads its ``messages``: the learned router was trained on plain
    text, so a lone "Hello" is placed exactly where ``/v1/route`` places ``{"text": "Hello"}``.
    """
    parts = [chat.system] + [block_text(message["content"]) for message in chat.messages]
    text = "\n".join(part for part in parts if part)
    if chat.tools:
        text += "\ntools: " + ", ".join(f"{tool['name']} ({tool.get('description', '')})" for tool in chat.tools)
    return text


def apply_chat_rules(decision: RouteDecision, chat: ChatRequest, choice: ModelChoice, policy: Policy) -> RouteDecision:
    """Raise the tier for tools and long context, then honour a fixed model name; reasons are appended."""
    settings, tier = policy.gateway, decision.tier
    if chat.tools:
        raised = policy.at_least(tier, settings.tools_min_tier)
        decision.add("tools", f"{len(chat.tools)} tool(s) offered: at least {settings.tools_min_tier}"
                     + (f", {tier} -> {raised}" if raised != tier else ""))
        tier = raised
    if decision.input_tokens > settings.long_context_tokens:
        raised = policy.at_least(tier, settings.long_context_min_tier)
        decision.add("long_context", f"about {decision.input_tokens} tokens of conversation > "
                     f"{settings.long_context_tokens}: at least {settings.long_context_min_tier}"
                     + (f", {tier} -> {raised}" if raised != tier else ""))
        tier = raised
    if choice.tier is not None:
        how = "pinned to" if choice.pinned else "starts on"
        decision.add("model_name", f"model {choice.name!r} {how} {choice.tier}"
                     + (f" (routing chose {tier})" if tier != choice.tier else ""))
        tier = choice.tier
    if tier != decision.tier:
        decision.tier, decision.model = tier, policy.model_for(tier)
        usage = Usage(input_tokens=decision.input_tokens, output_tokens=decision.expected_output_tokens)
        decision.estimated_cost_usd = policy.prices.cost(decision.model, usage)
    return decision
