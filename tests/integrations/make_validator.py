"""A validator for Make scenario blueprints, written from Make's published rules.

The reference is Make's own sample repository (integromat/make-blueprints: ``CONTRIBUTING.md`` and
``scripts/validate.mjs``) and the structure every exported blueprint has. A blueprint that passes here
is in the publishable "authoring subset": importable with "Import Blueprint" and free of anything bound
to one account.

Checked:
- top level: only ``name``, ``description``, ``flow``, ``metadata``; ``metadata.version`` is 1,
  ``metadata.scenario`` holds the scenario settings, ``metadata.designer.orphans`` is a list;
- every module, however deeply nested in routes or error handlers: a unique integer ``id`` >= 1, a
  known ``module`` at a known ``version``, ``metadata.designer`` x/y and no exporter-only metadata,
  ``parameters`` without connection, webhook, data-structure or keychain bindings;
- routers: ``mapper`` null, non-empty routes, no filter on the router itself;
- filters: never on the first module of the scenario, conditions in Make's ``[[{a, o, b}]]`` shape
  with a known operator;
- every ``{{n.x}}`` reference points at a module that runs *before* the referencing one on the same
  path (stricter than Make's sample validator, which only checks that the id exists);
- nothing that looks like a secret or a real e-mail address.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Module identifiers and versions taken from Make's published sample blueprints and real exports; a
# module not listed here is reported, because a mistyped identifier only fails at import time.
KNOWN_MODULES: dict[str, set[int]] = {
    "gateway:CustomWebHook": {1},
    "gateway:WebhookRespond": {1},
    "http:MakeRequest": {4},
    "json:ParseJSON": {1},
    "json:TransformToJSON": {1},
    "builtin:BasicRouter": {1},
    "builtin:BasicFeeder": {1},
    "builtin:BasicAggregator": {1},
    "builtin:Ignore": {1},
    "builtin:Break": {1},
    "util:ComposeTransformer": {1},
    "util:SetVariable2": {1},
    "google-sheets:addRow": {2},
}

ALLOWED_TOP_LEVEL = {"name", "description", "flow", "metadata"}
SCENARIO_SETTINGS = {"roundtrips", "maxErrors", "autoCommit", "autoCommitTriggerLast", "freshVariables"}
MODULE_ID = re.compile(r"^[a-z][a-z0-9-]*:[A-Za-z0-9]+$")

# Account-specific bindings: an import cannot recreate them, the user attaches them after import.
FORBIDDEN_PARAMETER_KEYS = {
    "__IMTCONN__", "__IMTKEY__", "hook", "datastore", "agent", "apiKeyKeychain", "basicAuthKeychain",
    "oAuthAccount", "proxyKeychain", "bodyDataStructure", "type", "udt",
}
FORBIDDEN_MODULE_METADATA = {"restore", "expect", "interface", "parameters", "advanced"}

FILTER_OPERATORS = {
    "exist", "notexist",
    "text:equal", "text:equal:ci", "text:notequal", "text:notequal:ci", "text:contain", "text:contain:ci",
    "text:notcontain", "text:startwith", "text:endwith", "text:pattern",
    "number:equal", "number:notequal", "number:greater", "number:less", "number:greaterorequal",
    "number:lessorequal",
    "boolean:equal", "boolean:notequal",
    "array:contain", "array:notcontain",
}

SECRET_PATTERNS = [
    (re.compile(r"[A-Za-z0-9._%+-]+@(?!example\.com)[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), "non-example.com e-mail address"),
    (re.compile(r"(?:api[_-]?key|bearer|token)[\"\s:=]+[A-Za-z0-9_\-]{20,}", re.I), "credential-looking string"),
    (re.compile(r"\btg_[A-Za-z0-9]{16,}"), "a Tiergate API key"),
]

EXPRESSION = re.compile(r"\{\{(.*?)\}\}", re.S)
STRING_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"')
MODULE_REFERENCE = re.compile(r"(?<![\w.`])`?(\d+)`?\.")


@dataclass
class Problem:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class _Visit:
    module: dict[str, Any]
    where: str
    upstream: tuple[int, ...]
    is_first: bool


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, where: str, message: str) -> None:
        self.problems.append(Problem(where, message))

    def __str__(self) -> str:
        return "\n".join(str(problem) for problem in self.problems) or "ok"


def references(value: Any) -> set[int]:
    """Module ids referenced by the ``{{...}}`` expressions anywhere inside ``value``."""
    found: set[int] = set()
    if isinstance(value, str):
        for expression in EXPRESSION.findall(value):
            code = STRING_LITERAL.sub('""', expression)
            found.update(int(match) for match in MODULE_REFERENCE.findall(code))
    elif isinstance(value, dict):
        for item in value.values():
            found |= references(item)
    elif isinstance(value, list):
        for item in value:
            found |= references(item)
    return found


def walk(flow: list[Any], where: str = "flow", upstream: tuple[int, ...] = ()) -> Iterator[_Visit]:
    """Every module in execution order, with the ids of the modules that ran before it on its path."""
    before = upstream
    for index, module in enumerate(flow):
        here = f"{where}[{index}]"
        if not isinstance(module, dict):
            yield _Visit({}, here, before, False)
            continue
        yield _Visit(module, here, before, where == "flow" and index == 0)
        own_id = module.get("id")
        after = before + ((own_id,) if isinstance(own_id, int) else ())
        for r, route in enumerate(module.get("routes") or []):
            yield from walk((route or {}).get("flow") or [], f"{here}.routes[{r}].flow", after)
        # An error handler runs after its module failed: it may read the module's error, not its output.
        yield from walk(module.get("onerror") or [], f"{here}.onerror", after)
        before = after


def validate(blueprint: Any) -> Report:
    """All the problems of one blueprint; an empty report means it passes."""
    report = Report()
    if not isinstance(blueprint, dict):
        report.add("blueprint", "must be a JSON object")
        return report
    _check_top_level(blueprint, report)
    flow = blueprint.get("flow")
    if not isinstance(flow, list) or not flow:
        return report

    seen: set[int] = set()
    visits = list(walk(flow))
    for visit in visits:
        _check_module(visit, seen, report)
    all_ids = {visit.module.get("id") for visit in visits}
    for visit in visits:
        _check_references(visit, all_ids, report)

    raw = json.dumps(blueprint, ensure_ascii=False)
    for pattern, label in SECRET_PATTERNS:
        hit = pattern.search(raw)
        if hit:
            report.add("blueprint", f"possible leak ({label}): {hit.group(0)!r}")
    return report


def validate_file(path: str | Path) -> Report:
    """Validate a blueprint file; a file that is not JSON is one problem, not an exception."""
    try:
        blueprint = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        report = Report()
        report.add(str(path), f"cannot be read as JSON: {exc}")
        return report
    return validate(blueprint)


def _check_top_level(blueprint: dict[str, Any], report: Report) -> None:
    for key in blueprint:
        if key not in ALLOWED_TOP_LEVEL:
            report.add("blueprint", f"unexpected top-level key {key!r}")
    name = blueprint.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 120:
        report.add("name", "must be a 1-120 character string")
    flow = blueprint.get("flow")
    if not isinstance(flow, list) or not flow:
        report.add("flow", "must be a non-empty list of modules")
    metadata = blueprint.get("metadata")
    if not isinstance(metadata, dict):
        report.add("metadata", "is required")
        return
    if metadata.get("version") != 1:
        report.add("metadata.version", "must be 1")
    scenario = metadata.get("scenario")
    if not isinstance(scenario, dict):
        report.add("metadata.scenario", "is required (the scenario settings)")
    else:
        for key in SCENARIO_SETTINGS - scenario.keys():
            report.add("metadata.scenario", f"missing setting {key!r}")
    designer = metadata.get("designer")
    if not isinstance(designer, dict) or not isinstance(designer.get("orphans"), list):
        report.add("metadata.designer.orphans", "must be a list")


def _check_module(visit: _Visit, seen: set[int], report: Report) -> None:
    module, where = visit.module, visit.where
    if not module:
        report.add(where, "each flow item must be an object")
        return
    module_id = module.get("id")
    if not isinstance(module_id, int) or isinstance(module_id, bool) or module_id < 1:
        report.add(where, f"module id must be an integer >= 1 (got {module_id!r})")
    elif module_id in seen:
        report.add(where, f"duplicate module id {module_id}")
    else:
        seen.add(module_id)

    name = module.get("module")
    version = module.get("version")
    if not isinstance(name, str) or not MODULE_ID.match(name):
        report.add(where, f"invalid module identifier {name!r}")
    elif name not in KNOWN_MODULES:
        report.add(where, f"unknown module {name!r}")
    elif version not in KNOWN_MODULES[name]:
        report.add(where, f"{name} version must be one of {sorted(KNOWN_MODULES[name])} (got {version!r})")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        report.add(where, "module version must be a positive integer")

    parameters = module.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        report.add(where, "parameters must be an object")
    for key in FORBIDDEN_PARAMETER_KEYS & set(parameters or {}):
        report.add(where, f"parameters.{key} is account-specific: leave it out, the user attaches it after import")

    metadata = module.get("metadata")
    designer = metadata.get("designer") if isinstance(metadata, dict) else None
    if not isinstance(designer, dict) or not all(isinstance(designer.get(axis), (int, float)) for axis in "xy"):
        report.add(where, "metadata.designer.x/y coordinates are required")
    for key in FORBIDDEN_MODULE_METADATA & set(metadata or {}):
        report.add(where, f"module metadata.{key} is exporter-only")

    if name == "builtin:BasicRouter":
        if module.get("mapper", "missing") is not None:
            report.add(where, "router mapper must be null")
        routes = module.get("routes")
        if not isinstance(routes, list) or not routes:
            report.add(where, "router must have routes")
        else:
            for r, route in enumerate(routes):
                if not isinstance(route, dict) or not isinstance(route.get("flow"), list) or not route["flow"]:
                    report.add(where, f"routes[{r}].flow must be a non-empty list")
        if module.get("filter"):
            report.add(where, "a router carries no filter: put it on the first module of a route")
    elif module.get("routes"):
        report.add(where, "only a router has routes")
    elif "mapper" in module and not isinstance(module["mapper"], dict):
        report.add(where, "mapper must be an object")

    if module.get("filter") is not None:
        if visit.is_first:
            report.add(where, "the first module of a scenario must not have a filter")
        _check_filter(module["filter"], where, report)


def _check_filter(flt: Any, where: str, report: Report) -> None:
    if not isinstance(flt, dict) or not isinstance(flt.get("name"), str):
        report.add(where, "filter must be an object with a name")
        return
    groups = flt.get("conditions")
    if not isinstance(groups, list) or not groups or not all(isinstance(g, list) and g for g in groups):
        report.add(where, "filter conditions must be a non-empty list of non-empty AND-groups")
        return
    for group in groups:
        for condition in group:
            if not isinstance(condition, dict) or "a" not in condition:
                report.add(where, "each filter condition needs an operand 'a'")
            elif condition.get("o") not in FILTER_OPERATORS:
                report.add(where, f"unknown filter operator {condition.get('o')!r}")
            elif condition["o"] not in {"exist", "notexist"} and "b" not in condition:
                report.add(where, f"operator {condition['o']} needs an operand 'b'")


def _check_references(visit: _Visit, all_ids: set[Any], report: Report) -> None:
    module, where = visit.module, visit.where
    own = module.get("id")
    for part in ("mapper", "filter", "parameters"):
        for ref in sorted(references(module.get(part))):
            if ref == own:
                report.add(where, f"{part} references its own module {{{{{ref}.…}}}}")
            elif ref not in all_ids:
                report.add(where, f"{part} references module {ref}, which does not exist")
            elif ref not in visit.upstream:
                report.add(where, f"{part} references module {ref}, which does not run before module {own}")
