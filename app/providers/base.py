"""What every provider speaks: a ``ModelCall`` in, a ``ModelReply`` out.

The call separates the *cacheable* system prefix (task prompt, brand rules, knowledge snippets: the
same for every request of a task type) from per-request system text (allowed labels, the escalation
hint), because only a byte-identical prefix hits the provider's prompt cache.
"""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Iterator

from app.errors import ProviderError
from app.pricing import Usage

if TYPE_CHECKING:
    from app.config import Settings
    from app.policy import Policy
    from app.policy.schema import ProviderSpec


# The shortest wait a call gets, even past its deadline (a failover's second provider, say).
MIN_CALL_SECONDS = 0.5

# Why a model stopped, in the Messages API's words (the OpenAI formats map them to finish_reason).
END_TURN, MAX_TOKENS, STOP_SEQUENCE, TOOL_USE = "end_turn", "max_tokens", "stop_sequence", "tool_use"


@dataclass(frozen=True)
class ModelCall:
    """One request to a model."""

    model: str
    messages: list[dict[str, Any]]
    cached_system: str = ""
    system: str = ""
    max_tokens: int = 1024
    json_output: bool = False
    # Informational, for the dry-run answer and logs: which tier this call serves and why.
    tier: str | None = None
    purpose: str = "answer"
    expected_output_tokens: int | None = None
    # Drop-in gateway calls (app.gateway) carry the client's own sampling settings and tools, in the
    # Anthropic Messages shape; providers on other APIs translate them.
    tools: list[dict[str, Any]] | None = None
    tool_choice: dict[str, Any] | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    json_schema: dict[str, Any] | None = None  # structured output, where the provider supports it
    # A drop-in client's system blocks with its own cache markers, sent as given in place of
    # ``cached_system`` (their text) by providers that speak the Messages API.
    system_blocks: list[dict[str, Any]] | None = None
    # ``time.monotonic()`` by which the caller stops waiting (a drop-in client at the sync bound): the
    # provider's timeout and retries give way to it (``call_budget``).
    deadline: float | None = None


@dataclass(frozen=True)
class ModelReply:
    """What came back, with the usage the provider bills."""

    text: str
    usage: Usage
    latency_ms: float
    model: str
    stop_reason: str | None = None
    dry_run: bool = False
    estimated_cost_usd: Decimal | None = field(default=None, compare=False)
    # The answer as Anthropic content blocks when it holds more than text (``tool_use`` blocks).
    content: list[dict[str, Any]] | None = None
    # Who answered, when not the provider that was called (a cross-provider failover).
    provider: str | None = None
    # Whose prompt-cache markers the call carried: ``app.pricing.CLIENT_MARKERS`` (a drop-in client's
    # own), ``OWN_MARKERS`` (placed by Tiergate), None (no markers).
    cache_markers: str | None = None


def tool_uses(content: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The ``tool_use`` blocks of an answer's content."""
    return [block for block in content or [] if block.get("type") == "tool_use"]


class Provider(ABC):
    """A model provider. Subclasses map their transport's failures to ``app.errors.ProviderError``."""

    name: ClassVar[str]
    dry_run: ClassVar[bool] = False

    @abstractmethod
    def complete(self, call: ModelCall) -> ModelReply:
        """Run ``call`` (with the transport's own retries) or raise ``ProviderError``."""

    def stream(self, call: ModelCall) -> Iterator[dict[str, Any]]:
        """Run ``call`` streamed: ``{"type": "text", "text"}``, ``{"type": "tool_start", "index", "id",
        "name"}`` and ``{"type": "tool_args", "index", "json"}`` events as the model writes, then one
        ``{"type": "done", "reply": ModelReply}``. Optional: the drop-in gateway's live streaming."""
        raise ProviderError(f"{self.name} cannot stream")

    @classmethod
    def from_spec(cls, spec: "ProviderSpec | None", settings: "Settings", policy: "Policy") -> "Provider":
        """Build from the policy's ``providers:`` entry (``None`` for the built-in Anthropic one)."""
        raise NotImplementedError(f"{cls.__name__} cannot be built from a policy entry")


def call_budget(call: ModelCall, timeout: float, max_retries: int) -> tuple[float, int]:
    """The (timeout, retries) a provider gives ``call``: as configured when every try fits before the
    call's deadline, else one try that ends at the deadline (the cascade, which knows the deadline,
    decides whether to try again)."""
    if call.deadline is None:
        return timeout, max_retries
    left = call.deadline - time.monotonic()
    if timeout * (max_retries + 1) <= left:
        return timeout, max_retries
    return max(min(timeout, left), MIN_CALL_SECONDS), 0


def call_text(call: ModelCall) -> str:
    """Every text the model reads, for token estimates."""
    parts = [call.cached_system, call.system]
    for message in call.messages:
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(block.get("text", "") for block in content if isinstance(block, dict))
    return "\n".join(part for part in parts if part)


def not_the_api(model: str, status: int, content_type: str, api: str, detail: object = "") -> ProviderError:
    """The failure for a body that is not ``api``'s answer: a proxy's HTML page, foreign JSON, a cut-off body.

    Such bodies often come with status 200, so the status is kept for the attempt record; retryable,
    because a proxy in the way is usually gone on the next try.
    """
    why = f" ({detail})" if detail else ""
    return ProviderError(f"{model}: unreadable response: HTTP {status} {content_type or 'without content-type'} "
                         f"is not a {api} answer{why}", retryable=True, status=status)
