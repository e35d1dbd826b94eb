"""Model providers: one class per transport, picked by name from a plain registry.

    PROVIDERS = {"anthropic": ..., "openai": ..., "dry_run": ...}

A tier's ``provider`` in the policy is either ``anthropic`` (the built-in Anthropic account from
``ANTHROPIC_API_KEY``) or the name of an entry under ``providers:`` whose ``kind`` is a registry key.
Adding a transport is one ``Provider`` subclass and one registry line.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from app.providers.anthropic import AnthropicProvider
from app.providers.base import ModelCall, ModelReply, Provider
from app.providers.breaker import CircuitBreaker
from app.providers.dry_run import DryRunProvider
from app.providers.failover import FailoverProvider
from app.providers.openai import OpenAIProvider

if TYPE_CHECKING:
    from app.config import Settings
    from app.policy import Policy

PROVIDERS: dict[str, type[Provider]] = {
    "anthropic": AnthropicProvider,
    "openai": OpenAIProvider,
    "dry_run": DryRunProvider,
}


def build_tier_providers(policy: "Policy", settings: "Settings") -> dict[str, Provider]:
    """One provider per tier, built once per process and shared between tiers that use the same one.

    Tiers served by the built-in Anthropic account get the dry-run provider when no key is set;
    a tier on a named OpenAI-compatible endpoint (a local Ollama needs no key) stays real.
    """
    built: dict[str, Provider] = {}
    by_tier: dict[str, Provider] = {}

    def provider(name: str) -> Provider:
        if name not in built:
            spec = policy.providers.get(name)
            kind = spec.kind if spec else name
            if kind == "anthropic" and spec is None and settings.dry_run:
                kind = "dry_run"
            built[name] = PROVIDERS[kind].from_spec(spec, settings, policy)
        return built[name]

    for tier_name, tier in policy.tiers.items():
        by_tier[tier_name] = provider(tier.provider)
        if tier.failover is not None:  # the same tier on another provider (app.providers.failover)
            by_tier[tier_name] = FailoverProvider(by_tier[tier_name], provider(tier.failover.provider),
                                                  tier.failover.model)
    return by_tier


def init_app(app) -> None:
    """Build this process's providers at start (importing the SDK), so RQ's forked work horses inherit
    them ready instead of importing and building them again for every job."""
    from app.routing.state import current_policy

    with app.app_context():
        policy = current_policy()
    app.extensions["providers"] = build_tier_providers(policy, app.config["TIERGATE"])
    app.extensions["providers.policy"] = policy


__all__ = ["PROVIDERS", "AnthropicProvider", "CircuitBreaker", "DryRunProvider", "FailoverProvider", "ModelCall",
           "ModelReply",
           "OpenAIProvider", "Provider", "build_tier_providers", "init_app"]
