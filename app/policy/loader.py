"""Load a policy file and turn every validation problem into ``file:line: field: message``.

YAML is parsed twice: once into plain data for pydantic, once into a node tree that still knows
where each key sits, so an error can point the operator at the line to fix.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from app.errors import PolicyError
from app.policy.schema import Policy, PolicyReferenceError

DEFAULT_POLICY_RESOURCE = "default.yaml"


def default_policy_text() -> str:
    return resources.files("app.policy").joinpath(DEFAULT_POLICY_RESOURCE).read_text(encoding="utf-8")


def load_policy(path: str | Path | None = None) -> Policy:
    """The operator's policy file when given, else the default policy shipped with the package."""
    if path is None:
        return parse_policy(default_policy_text(), source="<default policy>")
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{file}: cannot read policy file: {exc.strerror}") from None
    return parse_policy(text, source=str(file))


def parse_policy(text: str, *, source: str = "<policy>") -> Policy:
    try:
        data = yaml.safe_load(text)
        tree = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        raise PolicyError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise PolicyError(f"{source}:1: the policy must be a mapping with tiers, prices and task_types")
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(_describe(exc, tree, source), problems=_problems(exc)) from None


def _problems(exc: ValidationError) -> list[tuple[tuple[Any, ...], str]]:
    problems: list[tuple[tuple[Any, ...], str]] = []
    for error in exc.errors():
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, PolicyReferenceError):
            problems.extend(cause.problems)
        else:
            message = error["msg"].removeprefix("Value error, ")
            problems.append((tuple(error["loc"]), message))
    return problems


def _describe(exc: ValidationError, tree: yaml.Node | None, source: str) -> str:
    lines = []
    for loc, message in _problems(exc):
        line = _line_of(tree, loc)
        field = ".".join(str(part) for part in loc) or "(document)"
        where = f"{source}:{line}" if line else source
        lines.append(f"{where}: {field}: {message}")
    return "invalid policy:\n  " + "\n  ".join(lines)


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the deepest node along ``loc`` that exists in the file."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((value for key, value in node.value if key.value == str(part)), None)
            if match is None:
                return line
            key_node = next(key for key, value in node.value if value is match)
            line, node = key_node.start_mark.line + 1, match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line
