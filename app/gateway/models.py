"""The model names a drop-in client may send, and what each one does.

* ``tiergate/auto``  — route the conversation (task type, size, tools, risk), then run the cascade:
  gates, one retry, escalation, review flags.
* ``tiergate/tier1`` .. ``tiergate/tierN`` — start on that tier, with its gates and escalation above it.
* a model a tier of the policy names (``claude-haiku-4-5``) — that model on its tier's provider, no
  escalation ("pinned"): the call is still gated for the requested format, priced and recorded.
"""
from __future__ import annotations

from dataclasses import dataclass

from app.errors import NotFound
from app.policy.schema import Policy

PREFIX = "tiergate/"
AUTO = PREFIX + "auto"
OWNER = "tiergate"
CREATED = 1767225600  # 2026-01-01T00:00:00Z: model names are configuration, they have no release date


@dataclass(frozen=True)
class ModelChoice:
    """What a model name asks for: routing (``tier`` None), a starting tier, or one pinned model."""

    name: str
    tier: str | None = None
    pinned: bool = False


def resolve(name: str, policy: Policy) -> ModelChoice:
    """The choice behind ``name``; ``NotFound`` (code ``model_not_found``) lists the names that exist."""
    if name == AUTO:
        return ModelChoice(name)
    if name.startswith(PREFIX) and name[len(PREFIX):] in policy.tiers:
        return ModelChoice(name, tier=name[len(PREFIX):])
    for tier_name, tier in policy.tiers.items():
        if tier.model == name:
            return ModelChoice(name, tier=tier_name, pinned=True)
    raise NotFound(f"model {name!r} does not exist here; use one of: {', '.join(names(policy))}", "model",
                   code="model_not_found")


def names(policy: Policy) -> list[str]:
    """Every model name a client may send, routed names first."""
    pinned = list(dict.fromkeys(tier.model for tier in policy.tiers.values()))
    return [AUTO] + [PREFIX + tier for tier in policy.tiers] + pinned


def listing(policy: Policy) -> dict:
    """``GET /v1/models`` in a shape both SDKs read: OpenAI's list plus Anthropic's paging fields."""
    data = [{"id": name, "object": "model", "created": CREATED, "owned_by": OWNER,
             "type": "model", "display_name": name, "created_at": "2026-01-01T00:00:00Z"} for name in names(policy)]
    return {"object": "list", "data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[-1]["id"]}
