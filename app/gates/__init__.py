"""Quality gates: a base class with one abstract ``check`` and a plain registry.

    GATES = {"non_empty": ..., "json": ..., ...}

Adding a gate is one small ``Gate`` subclass and one registry line. A task type names its gates in the
policy (``gates: [{name: json}, {name: length, max_chars: 2000}]``); they run cheapest first and stop
at the first failure, so a free check saves the paid self-check. A gate that raises (a schema whose
sub-schema names its own ``$id`` and points nowhere, an answer nested past the recursion limit) fails
its check: the answer is paid for, so the run goes on with the ledger intact instead of crashing.
"""
from __future__ import annotations

import logging
from typing import Any, Iterable

from app.errors import PolicyError
from app.gates.base import Gate, GateContext, GateResult
from app.gates.checks import Confidence, Json, LabelInSet, Length, NonEmpty, Regex, Schema, parse_json
from app.gates.self_check import SelfCheck

GATES: dict[str, type[Gate]] = {
    "non_empty": NonEmpty,
    "length": Length,
    "regex": Regex,
    "json": Json,
    "schema": Schema,
    "label_in_set": LabelInSet,
    "confidence": Confidence,
    "self_check": SelfCheck,
}

log = logging.getLogger(__name__)


def known_gates() -> list[str]:
    """Gate names a policy may use."""
    return sorted(GATES)


def build_gates(specs: Iterable[Any]) -> list[Gate]:
    """Gate instances for a task type's ``gates`` list (GateSpec objects or dicts), cheapest first."""
    gates = []
    for spec in specs:
        data = spec.model_dump() if hasattr(spec, "model_dump") else dict(spec)
        name = data.pop("name")
        if name not in GATES:
            raise PolicyError(f"unknown gate {name!r}; known gates: {', '.join(known_gates())}")
        gates.append(GATES[name](**data))
    return sorted(gates, key=lambda gate: gate.order)


def run_gates(gates: list[Gate], output_text: str, context: GateContext) -> list[GateResult]:
    """Run gates in order until one fails; every result so far is returned (the last one failed, if any)."""
    context.parsed = None
    results = []
    for gate in gates:
        try:
            result = gate.check(output_text, context)
        except Exception as exc:  # noqa: BLE001 - any fault in a check is that check failing
            log.warning("gate %s raised on an answer; counted as a failed check", gate.name, exc_info=True)
            result = GateResult(False, gate.name, f"the {gate.name} gate could not check the answer: "
                                                  f"{type(exc).__name__}: {str(exc)[:300]}")
        results.append(result)
        if not result.ok:
            break
    return results


__all__ = ["GATES", "Gate", "GateContext", "GateResult", "build_gates", "known_gates", "parse_json", "run_gates"]
