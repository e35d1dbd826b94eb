"""The policy file's shape: tiers, prices, upgrade rules and task types.

Validated by pydantic so that a typo in an operator's file fails on load, naming the field, instead of
routing traffic to a tier that does not exist.
"""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.pricing import PriceTable

TIER_NAME = re.compile(r"^tier[1-9]$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TierFailover(Strict):
    """The same tier on another provider, used when the tier's provider is overloaded or down."""

    provider: str
    model: str


class TierSpec(Strict):
    """A tier names a model and the provider that serves it."""

    model: str
    provider: str = "anthropic"
    max_output_tokens: int = Field(default=1024, gt=0)
    # What a provider failure (after the SDK's retries) does: wait for the model to come back (within
    # the request's bound), move the task to the next tier (which costs more), or fail the request.
    on_provider_error: Literal["wait", "next_tier", "fail"] = "wait"
    failover: TierFailover | None = None


class ProviderSpec(Strict):
    """An extra provider, e.g. an OpenAI-compatible endpoint (OpenAI, vLLM, Ollama)."""

    kind: Literal["anthropic", "openai"]
    base_url: str | None = None
    api_key_env: str | None = None
    timeout_seconds: float = Field(default=60.0, gt=0)


class KeywordSet(Strict):
    keywords: list[str] = []
    patterns: list[str] = []

    @field_validator("patterns")
    @classmethod
    def _patterns_compile(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern {pattern!r} is not a valid regular expression: {exc}") from None
        return patterns


class SensitiveRule(Strict):
    """Money, legal, medical and security content: at least ``min_tier`` and a human look."""

    min_tier: str = "tier2"
    review: bool = True
    categories: dict[str, KeywordSet] = {}


class UpgradeRules(Strict):
    """Thresholds of the upgrade rules, applied in the order docs/architecture.md, "Routing" lists them."""

    max_input_tokens: int = Field(default=8000, gt=0)
    input_size_min_tier: str = "tier2"
    high_risk_min_tier: str = "tier2"
    high_risk_review: bool = True
    external_review: bool = True
    sensitive: SensitiveRule = SensitiveRule()
    confidence_threshold: float = Field(default=0.75, ge=0, le=1)
    unknown_task_tier: str = "tier2"
    expected_output_ratio: float = Field(default=0.25, ge=0)
    # A spent ``downgrade`` budget never moves a request below its floor (its task type's tier, high risk,
    # sensitive content); when even the floor does not fit: ``refuse`` (402) or ``review`` (held for a
    # reviewer, no model called).
    budget_floor_action: Literal["refuse", "review"] = "refuse"


class RuleOverrides(Strict):
    """Per-task-type overrides of the global thresholds."""

    max_input_tokens: int | None = Field(default=None, gt=0)
    confidence_threshold: float | None = Field(default=None, ge=0, le=1)
    sensitive: bool | None = None


class GateSpec(BaseModel):
    """One quality gate by registered name, with its own settings as extra keys."""

    model_config = ConfigDict(extra="allow")

    name: str


class ShadowSpec(Strict):
    """Shadow comparisons of a task type: a sampled share of delivered answers is run again on the
    baseline model in the background and compared (see ``app.shadow``)."""

    enabled: bool = True
    rate: float = Field(default=0.05, ge=0, le=1)
    monthly_budget_usd: Decimal = Field(default=Decimal("5"), ge=0)
    comparator: str | None = None  # label | fields | judge; None: chosen from the output format
    ignore_fields: list[str] = []


class TaskType(Strict):
    """A task type: its default tier, how to recognise it, and how to run and check it."""

    tier: str
    description: str = ""
    detect: KeywordSet = KeywordSet()
    prompt: str = ""
    output_format: Literal["text", "json"] = "text"
    output_schema: dict[str, Any] | None = None
    output_model: str | None = None
    gates: list[GateSpec] = []
    review: Literal["auto", "always"] = "auto"
    expected_output_tokens: int | None = Field(default=None, gt=0)
    max_output_tokens: int | None = Field(default=None, gt=0)
    overrides: RuleOverrides = RuleOverrides()
    shadow: ShadowSpec | None = None


class ShadowJudge(Strict):
    """The judge of free-text shadow comparisons; ``rubric`` replaces the built-in one when set."""

    model: str | None = None  # None: the baseline model
    rubric: str = ""
    max_output_tokens: int = Field(default=300, gt=0)


class RouterSpec(Strict):
    """Settings of the LLM-as-router (``llm``, ``hybrid``) and of the learned router (``learned``, ``hybrid``)."""

    tier: str = "tier1"
    rubric: str = ""
    max_output_tokens: int = Field(default=200, gt=0)
    # About this share of typical traffic goes up from the cheapest tier on "premium needed".
    premium_share: float = Field(default=0.2, ge=0, le=1)
    # Set by `tiergate router calibrate` from the operator's own log; overrides premium_share.
    premium_threshold: float | None = Field(default=None, ge=0, le=1)
    # Below this task-type probability the learned router is unsure: one tier up, or the LLM router in hybrid.
    learned_confidence_threshold: float = Field(default=0.5, ge=0, le=1)


class GatewaySettings(Strict):
    """The drop-in chat endpoints (app.gateway): routing rules for chat traffic, and what a chat client
    receives when its answer is held for review: the ``draft`` (with the review link in a header) or
    ``hold`` (a short notice with the link instead of the draft), per task type."""

    tools_min_tier: str = "tier2"
    long_context_tokens: int = Field(default=50_000, gt=0)
    long_context_min_tier: str = "tier3"
    held_answer: Literal["draft", "hold"] = "draft"
    held_answer_by_task_type: dict[str, Literal["draft", "hold"]] = {}
    # gated: stream the answer the cascade kept; live: the routed tier's tokens as they come, ungated
    stream: Literal["gated", "live"] = "gated"


class Policy(Strict):
    """The whole policy document."""

    version: Literal[1] = 1
    baseline_model: str
    tiers: dict[str, TierSpec]
    providers: dict[str, ProviderSpec] = {}
    prices: PriceTable
    rules: UpgradeRules = UpgradeRules()
    router: RouterSpec = RouterSpec()
    shadow_judge: ShadowJudge = ShadowJudge()
    gateway: GatewaySettings = GatewaySettings()
    task_types: dict[str, TaskType]

    @field_validator("tiers")
    @classmethod
    def _tier_names(cls, tiers: dict[str, TierSpec]) -> dict[str, TierSpec]:
        if not tiers:
            raise ValueError("at least one tier is required")
        for name in tiers:
            if not TIER_NAME.match(name):
                raise ValueError(f"tier name {name!r} must look like tier1, tier2, ...")
        return dict(sorted(tiers.items(), key=lambda item: int(item[0][4:])))

    @model_validator(mode="after")
    def _references_resolve(self) -> "Policy":
        problems: list[tuple[tuple[Any, ...], str]] = []

        def tier_known(where: tuple[Any, ...], tier: str) -> None:
            if tier not in self.tiers:
                problems.append((where, f"unknown tier {tier!r}; known tiers: {', '.join(self.tiers)}"))

        for name, task in self.task_types.items():
            tier_known(("task_types", name, "tier"), task.tier)
        tier_known(("rules", "input_size_min_tier"), self.rules.input_size_min_tier)
        tier_known(("rules", "high_risk_min_tier"), self.rules.high_risk_min_tier)
        tier_known(("rules", "sensitive", "min_tier"), self.rules.sensitive.min_tier)
        tier_known(("rules", "unknown_task_tier"), self.rules.unknown_task_tier)
        tier_known(("router", "tier"), self.router.tier)
        tier_known(("gateway", "tools_min_tier"), self.gateway.tools_min_tier)
        tier_known(("gateway", "long_context_min_tier"), self.gateway.long_context_min_tier)
        for tier_name, tier in self.tiers.items():
            if tier.model not in self.prices.models:
                problems.append((("tiers", tier_name, "model"), f"model {tier.model!r} has no entry in prices.models"))
            if tier.provider != "anthropic" and tier.provider not in self.providers:
                problems.append((("tiers", tier_name, "provider"), f"provider {tier.provider!r} is not defined under providers"))
            if tier.failover is not None:
                if tier.failover.model not in self.prices.models:
                    problems.append((("tiers", tier_name, "failover", "model"),
                                     f"model {tier.failover.model!r} has no entry in prices.models"))
                if tier.failover.provider != "anthropic" and tier.failover.provider not in self.providers:
                    problems.append((("tiers", tier_name, "failover", "provider"),
                                     f"provider {tier.failover.provider!r} is not defined under providers"))
        from app.gates import known_gates  # lazy: gates import jsonschema and the provider layer

        gate_names = set(known_gates())
        for name, task in self.task_types.items():
            for index, gate in enumerate(task.gates):
                if gate.name not in gate_names:
                    problems.append((("task_types", name, "gates", index, "name"),
                                     f"unknown gate {gate.name!r}; known gates: {', '.join(sorted(gate_names))}"))
        from app.comparators.base import COMPARATORS  # lazy, like the gates

        for name, task in self.task_types.items():
            if task.shadow and task.shadow.comparator and task.shadow.comparator not in COMPARATORS:
                problems.append((("task_types", name, "shadow", "comparator"),
                                 f"unknown comparator {task.shadow.comparator!r}; known: {', '.join(COMPARATORS)}"))
        if self.shadow_judge.model and self.shadow_judge.model not in self.prices.models:
            problems.append((("shadow_judge", "model"), f"model {self.shadow_judge.model!r} has no entry in prices.models"))
        if self.baseline_model not in self.prices.models:
            problems.append((("baseline_model",), f"model {self.baseline_model!r} has no entry in prices.models"))
        if problems:
            raise PolicyReferenceError(problems)
        return self

    # -- tier arithmetic -------------------------------------------------------------------------

    @property
    def tier_order(self) -> list[str]:
        return list(self.tiers)

    def tier_rank(self, tier: str) -> int:
        return self.tier_order.index(tier)

    def at_least(self, tier: str, floor: str) -> str:
        return tier if self.tier_rank(tier) >= self.tier_rank(floor) else floor

    def next_tier(self, tier: str) -> str | None:
        rank = self.tier_rank(tier)
        return self.tier_order[rank + 1] if rank + 1 < len(self.tier_order) else None

    @property
    def top_tier(self) -> str:
        return self.tier_order[-1]

    def model_for(self, tier: str) -> str:
        return self.tiers[tier].model


class PolicyReferenceError(ValueError):
    """Cross-references that do not resolve, each with the path of the offending field."""

    def __init__(self, problems: list[tuple[tuple[Any, ...], str]]):
        self.problems = problems
        super().__init__("; ".join(f"{'.'.join(map(str, loc))}: {msg}" for loc, msg in problems))
