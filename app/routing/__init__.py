"""Routing: which tier and model a request goes to, and why."""
from app.routing.rules import RouteDecision, RouteInput, RulesRouter, input_text, input_tokens_of
from app.providers.tokens import estimate_tokens

__all__ = ["RouteDecision", "RouteInput", "RulesRouter", "estimate_tokens", "input_text", "input_tokens_of"]
