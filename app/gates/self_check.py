"""The self-check gate: the same tier rates its own answer against a stricter prompt.

It costs one more call on the tier that answered (recorded as an attempt with purpose ``self_check``)
and catches answers that are well-formed but empty of substance. It runs last because it is the only
gate that costs money.
"""
from __future__ import annotations

from app.gates.base import Gate, GateContext, GateResult
from app.gates.checks import parse_json

SELF_CHECK_PROMPT = """You are a strict quality reviewer. Check the answer below, written for the task \
described here, against the task's instructions and the input. Fail it if it is incomplete, contradicts \
the input, invents facts, or ignores the required format.

Task instructions:
{task_prompt}
{criteria}
Answer with JSON only: {{"pass": true or false, "reason": "<one sentence>"}}"""

SELF_CHECK_INPUT = "Input:\n<<<\n{input}\n>>>\n\nAnswer to check:\n<<<\n{output}\n>>>"


class SelfCheck(Gate):
    name, order, retry_same_tier = "self_check", 100, False

    def check(self, output_text: str, context: GateContext) -> GateResult:
        if context.ask is None:
            return self.passed("no model available for a self-check; not checked")
        criteria = self.params.get("criteria")
        system = SELF_CHECK_PROMPT.format(task_prompt=context.task_prompt.strip() or "(none given)",
                                          criteria=f"\nAlso require: {criteria}\n" if criteria else "")
        verdict_text = context.ask(system, SELF_CHECK_INPUT.format(input=context.input_text, output=output_text))
        try:
            verdict = parse_json(verdict_text)
            passed, reason = verdict["pass"], str(verdict.get("reason") or "").strip()
        except (ValueError, KeyError, TypeError):
            return self.failed(f"the self-check answer was unreadable: {verdict_text[:120]!r}")
        if passed is True:
            return self.passed(f"self-check passed: {reason}" if reason else "self-check passed")
        return self.failed(f"self-check failed: {reason}" if reason else "self-check failed")
