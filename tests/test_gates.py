"""Quality gates: each passes and fails for the right reason; the set is ordered cheapest first."""
from __future__ import annotations

import pytest
from pydantic import BaseModel

from app.errors import PolicyError
from app.gates import GATES, GateContext, build_gates, known_gates, parse_json, run_gates
from app.policy import load_policy

CRM_SCHEMA = load_policy().task_types["crm_cleanup"].output_schema


class Contact(BaseModel):
    """Referenced by ``output_model: "tests.test_gates:Contact"``."""

    name: str
    seats: int


def check(name: str, text: str, context: GateContext | None = None, **params):
    return GATES[name](**params).check(text, context or GateContext())


@pytest.mark.parametrize("name, text, params, context, ok, reason", [
    ("non_empty", "hi", {}, {}, True, "ok"),
    ("non_empty", "  \n", {}, {}, False, "the answer is empty"),
    ("length", "abcd", {"min_chars": 5}, {}, False, "the answer has 4 characters; at least 5 are required"),
    ("length", "abcdef", {"max_chars": 5}, {}, False, "the answer has 6 characters; at most 5 are allowed"),
    ("length", "abcde", {"min_chars": 5, "max_chars": 5}, {}, True, "5 characters"),
    ("regex", "Order #123", {"pattern": r"#\d+"}, {}, True, "ok"),
    ("regex", "Order #123", {"pattern": r"#\d+", "fullmatch": True}, {}, False,
     "the answer does not match the pattern '#\\\\d+'"),
    ("json", '```json\n{"a": 1}\n```', {}, {}, True, "valid JSON"),
    ("json", '{"a": 1', {}, {}, False, "the answer is not valid JSON: Expecting ',' delimiter: line 1 column 8 (char 7)"),
    ("schema", '{"company": "Acme"}', {}, {"output_schema": CRM_SCHEMA}, False,
     "schema violation at (root): 'first_name' is a required property"),
    ("schema", '{"company": null, "first_name": null, "last_name": null, "email": null, "phone": null, "country": "de"}',
     {}, {"output_schema": CRM_SCHEMA}, False, "schema violation at country: 'de' does not match '^[A-Z]{2}$'"),
    ("schema", '{"x": 1}', {}, {}, True, "no output schema given; not checked"),
    ("schema", '{"name": "Acme", "seats": "many"}', {}, {"output_model": "tests.test_gates:Contact"}, False,
     "schema violation at seats: Input should be a valid integer, unable to parse string as an integer"),
    ("schema", '{"name": "Acme", "seats": 4}', {}, {"output_model": "tests.test_gates:Contact"}, True, "matches Contact"),
    ("label_in_set", '{"label": "b2b"}', {}, {"labels": ["B2B", "B2C"]}, True, "label 'B2B' is allowed"),
    ("label_in_set", "B2C", {}, {"labels": ["B2B", "B2C"]}, True, "label 'B2C' is allowed"),
    ("label_in_set", '{"label": "Enterprise"}', {}, {"labels": ["B2B", "B2C"]}, False,
     "label 'Enterprise' is not one of the allowed labels: B2B, B2C"),
    ("label_in_set", '{"label": "x"}', {"labels": ["a"]}, {}, False, "label 'x' is not one of the allowed labels: a"),
    ("label_in_set", '{"label": "x"}', {}, {}, True, "no allowed labels given; not checked"),
    ("confidence", '{"label": "a", "confidence": 0.5}', {}, {}, False,
     "the model is unsure: confidence 0.5 is below 0.75"),
    ("confidence", '{"label": "a", "confidence": 0.5}', {"min": 0.4}, {}, True, "confidence 0.5"),
    ("confidence", "plain text", {}, {}, True, "no confidence reported"),
])
def test_gate_table(name, text, params, context, ok, reason):
    result = check(name, text, GateContext(**context), **params)
    assert (result.ok, result.gate, result.reason) == (ok, name, reason)


def test_json_gate_hands_its_parse_to_the_following_gates():
    context = GateContext(labels=["B2B"])
    results = run_gates(build_gates([{"name": "label_in_set"}, {"name": "json"}]), '```\n{"label": "B2B"}\n```', context)
    assert [r.gate for r in results] == ["json", "label_in_set"] and all(r.ok for r in results)
    assert context.parsed == {"label": "B2B"}


def test_gates_run_cheapest_first_and_stop_at_the_first_failure():
    asked = []
    context = GateContext(ask=lambda system, user: asked.append(user) or '{"pass": true}')
    gates = build_gates([{"name": "self_check"}, {"name": "json"}, {"name": "non_empty"}])
    assert [gate.name for gate in gates] == ["non_empty", "json", "self_check"]
    results = run_gates(gates, "not json", context)
    assert [(r.gate, r.ok) for r in results] == [("non_empty", True), ("json", False)]
    assert asked == []  # the paid self-check never ran


def test_self_check_uses_a_stricter_prompt_and_reports_the_verdict():
    seen = {}

    def ask(system, user):
        seen.update(system=system, user=user)
        return '{"pass": false, "reason": "the reply invents a refund"}'

    context = GateContext(task_prompt="Draft a reply.", input_text="Where is my parcel?", ask=ask)
    result = check("self_check", "We refund you 100%.", context, criteria="no promises")
    assert (result.ok, result.reason) == (False, "self-check failed: the reply invents a refund")
    assert "strict quality reviewer" in seen["system"] and "Draft a reply." in seen["system"]
    assert "Also require: no promises" in seen["system"]
    assert "Where is my parcel?" in seen["user"] and "We refund you 100%." in seen["user"]
    assert check("self_check", "x", GateContext(ask=lambda s, u: "no idea")).reason.startswith(
        "the self-check answer was unreadable")


def test_known_gates_and_unknown_names():
    assert known_gates() == ["confidence", "json", "label_in_set", "length", "non_empty", "regex", "schema",
                             "self_check"]
    with pytest.raises(PolicyError, match="unknown gate 'jsn'; known gates: confidence, json"):
        build_gates([{"name": "jsn"}])
    with pytest.raises(PolicyError, match="gate regex needs a 'pattern'"):
        build_gates([{"name": "regex"}])


def test_every_gate_named_in_the_default_policy_is_known():
    for name, task in load_policy().task_types.items():
        assert build_gates(task.gates), name


def test_parse_json_strips_fences():
    assert parse_json("```json\n[1, 2]\n```") == [1, 2]
    with pytest.raises(ValueError):
        parse_json("```\nnope\n```")
