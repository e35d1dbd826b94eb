"""The gate contract: ``check(output_text, context) -> GateResult``.

A gate decides whether an answer is good enough to return. ``order`` sorts gates cheapest first so a
free programmatic check fails before a paid self-check runs; ``retry_same_tier`` says whether a failure
is the kind a second try on the same model tends to fix (a format slip) or not (an unsure answer).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar


@dataclass(frozen=True)
class GateResult:
    ok: bool
    gate: str
    reason: str
    parsed: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {"gate": self.gate, "ok": self.ok, "reason": self.reason}


@dataclass
class GateContext:
    """What gates may need besides the answer. ``parsed`` carries the JSON gate's result forward."""

    labels: list[str] | None = None
    output_schema: dict[str, Any] | None = None
    output_model: str | None = None
    confidence_threshold: float = 0.75
    task_prompt: str = ""
    input_text: str = ""
    # For the self-check gate: (system, user) -> the model's text. The cascade supplies it and
    # records the call as an attempt with purpose ``self_check``.
    ask: Callable[[str, str], str] | None = None
    parsed: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


class Gate(ABC):
    """One quality check. Settings come from the policy entry (``{name: regex, pattern: ...}``)."""

    name: ClassVar[str]
    order: ClassVar[int] = 50
    retry_same_tier: ClassVar[bool] = True

    def __init__(self, **params: Any):
        self.params = params

    @abstractmethod
    def check(self, output_text: str, context: GateContext) -> GateResult:
        """Pass or fail ``output_text``, with a reason a person can act on."""

    def passed(self, reason: str = "ok", parsed: Any = None) -> GateResult:
        return GateResult(True, self.name, reason, parsed)

    def failed(self, reason: str, parsed: Any = None) -> GateResult:
        return GateResult(False, self.name, reason, parsed)
