"""Policy loading: the default ships valid; a bad file names the line and the field."""
from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from app.cli import cli
from app.errors import PolicyError
from app.policy import default_policy_text, load_policy, parse_policy


def test_default_policy_matches_the_product_table():
    policy = load_policy()
    assert {name: tier.model for name, tier in policy.tiers.items()} == {
        "tier1": "claude-haiku-4-5", "tier2": "claude-sonnet-4-6", "tier3": "claude-opus-4-7"}
    assert policy.baseline_model == "claude-sonnet-4-6"
    assert policy.rules.max_input_tokens == 8000 and policy.rules.confidence_threshold == 0.75
    assert policy.rules.unknown_task_tier == "tier2"
    for name in ("list_classification", "crm_cleanup", "support_reply"):
        assert name in policy.task_types
    assert policy.task_types["support_reply"].review == "always"


def _with(old: str, new: str) -> str:
    text = default_policy_text()
    assert old in text, old
    return text.replace(old, new, 1)


def _line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


@pytest.mark.parametrize("old, new, field, message", [
    ("tier: tier1\n    description: Pull named", "tier: tier9\n    description: Pull named",
     "task_types.extraction.tier", "unknown tier 'tier9'"),
    ("max_input_tokens: 8000", "max_input_tokens: lots", "rules.max_input_tokens", "valid integer"),
    ("confidence_threshold: 0.75", "confidence_threshold: 1.5", "rules.confidence_threshold", "less than or equal to 1"),
    ("claude-haiku-4-5: {input: 1, output: 5,", "claude-haiku-4-5: {input: -1, output: 5,",
     "prices.models.claude-haiku-4-5.input", "greater than or equal to 0"),
    ("  expected_output_ratio: 0.25", "  expected_output_ratio: 0.25\n  surprise: 1", "rules.surprise", "Extra inputs"),
    ("unknown_task_tier: tier2", "unknown_task_tier: tier7", "rules.unknown_task_tier", "unknown tier 'tier7'"),
    ("tier3: {model: claude-opus-4-7,", "tier3: {model: gpt-unknown,", "tiers.tier3.model", "no entry in prices.models"),
])
def test_bad_field_names_line_and_field(old, new, field, message):
    text = _with(old, new)
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source="ops.yaml")
    error = str(caught.value)
    assert field in error and message in error
    line = int(re.search(rf"ops\.yaml:(\d+): {re.escape(field)}", error).group(1))
    needle = new.split("\n")[-1].strip().split(":")[0] if "\n" in new else new.split(":")[0].strip()
    assert line == _line_of(text, needle) or line == _line_of(text, new.strip().split("\n")[0])


def test_broken_pattern_is_reported():
    text = _with("patterns: ['\\b(?:sk|pk)_", "patterns: ['(unclosed', '\\b(?:sk|pk)_")
    with pytest.raises(PolicyError, match=r"rules\.sensitive\.categories\.security\.patterns: .*not a valid regular expression"):
        parse_policy(text)


def test_yaml_syntax_error_names_the_line():
    with pytest.raises(PolicyError, match=r"bad\.yaml:3: not valid YAML"):
        parse_policy("version: 1\ntiers:\n\ttier1: {model: x}\n", source="bad.yaml")


def test_not_a_mapping():
    with pytest.raises(PolicyError, match="must be a mapping"):
        parse_policy("- just\n- a list\n")


def test_operator_file_replaces_the_default(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text(_with("classification:\n    tier: tier1", "classification:\n    tier: tier2"))
    assert load_policy(path).task_types["classification"].tier == "tier2"


def test_missing_file_is_a_policy_error(tmp_path):
    with pytest.raises(PolicyError, match="cannot read policy file"):
        load_policy(tmp_path / "nope.yaml")


def test_policy_check_command(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(default_policy_text())
    result = CliRunner().invoke(cli, ["policy", "check", str(good)])
    assert result.exit_code == 0 and "ok" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(_with("max_input_tokens: 8000", "max_input_tokens: -3"))
    result = CliRunner().invoke(cli, ["policy", "check", str(bad)])
    assert result.exit_code != 0
    assert "rules.max_input_tokens" in str(result.exception)


def test_unknown_gate_name_is_refused_with_its_line():
    text = _with("gates: [{name: non_empty}, {name: length, max_chars: 2000}]",
                 "gates: [{name: non_empty}, {name: lenght, max_chars: 2000}]")
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source="ops.yaml")
    error = str(caught.value)
    assert "unknown gate 'lenght'" in error and ".gates.1.name" in error
    assert re.search(r"ops\.yaml:\d+: task_types\.\w+\.gates\.1\.name", error)


def test_policy_check_says_which_task_types_reach_the_minimum_cacheable_prefix(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(default_policy_text().replace("claude-sonnet-4-6: {input: 3, output: 15, min_cache_tokens: 2048}",
                                                  "claude-sonnet-4-6: {input: 3, output: 15, min_cache_tokens: 50}"))
    output = CliRunner().invoke(cli, ["policy", "check", str(good)]).output
    assert re.search(r"classification \(tier1, claude-haiku-4-5\): stable prefix ~[\d,]+ tokens < 4,096: not cached",
                     output)
    assert re.search(r"summary \(tier2, claude-sonnet-4-6\): stable prefix ~[\d,]+ tokens >= 50: cached", output)
