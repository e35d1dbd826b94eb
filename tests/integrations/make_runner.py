"""Run a Make blueprint the way Make would, far enough to replay its HTTP calls for real.

Only the modules and the mapping language the Tiergate blueprints use are emulated, and anything
else fails loudly instead of being guessed:

- ``{{n.path}}`` references (arrays 1-based, as in Make), no functions. A field mapped with a single
  expression keeps the value's type (a list stays a list); text around an expression makes it text,
  where booleans read ``true``/``false``, empty values read as nothing and lists join with ``, ``.
- Filters with the operators the blueprints use; a router runs every route whose filter passes, in
  order; an iterator (``builtin:BasicFeeder``) runs the rest of its path once per item.
- ``http:MakeRequest`` builds the request from the mapper (URL, method, headers, JSON string body)
  and hands it to a transport, so the request Tiergate sees is byte for byte what the mapper says.

Placeholders are filled in first, as the user does after import.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

EXPRESSION = re.compile(r"\{\{(.*?)\}\}", re.S)
PATH = re.compile(r"^(\d+)((?:\.[A-Za-z_][\w-]*|\[\d+\])*)$")
STEP = re.compile(r"\.([A-Za-z_][\w-]*)|\[(\d+)\]")


@dataclass
class SentRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpAnswer:
    status: int
    headers: dict[str, str]
    body: bytes


Transport = Callable[[SentRequest], HttpAnswer]


class ScenarioError(Exception):
    """The scenario stopped with an error, as Make would mark the run."""


@dataclass
class Run:
    """What one execution did: requests sent, webhook answers, sheet rows, modules that ran."""

    requests: list[tuple[int, SentRequest, HttpAnswer]] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)
    rows: list[tuple[str, list[str]]] = field(default_factory=list)
    executed: list[int] = field(default_factory=list)

    def rows_in(self, sheet: str) -> list[list[str]]:
        return [values for name, values in self.rows if name == sheet]


class MakeScenario:
    """One imported blueprint with its placeholders filled in."""

    def __init__(self, blueprint: dict[str, Any], placeholders: dict[str, str], transport: Transport):
        text = json.dumps(blueprint)
        for token, value in placeholders.items():
            text = text.replace(token, json.dumps(value)[1:-1])
        leftover = re.findall(r"YOUR-[A-Z-]+[A-Z]", text)
        if leftover:
            raise ValueError(f"placeholders not filled in: {sorted(set(leftover))}")
        self.blueprint = json.loads(text)
        self.transport = transport

    def trigger(self, payload: dict[str, Any]) -> Run:
        """Run the scenario once for a webhook call carrying ``payload`` (the parsed JSON body)."""
        run = Run()
        self._run_flow(self.blueprint["flow"], {}, run, trigger=payload)
        return run

    def http_modules(self) -> list[dict[str, Any]]:
        return [m for m in _modules(self.blueprint["flow"]) if m["module"] == "http:MakeRequest"]

    # -- execution -------------------------------------------------------------------------------
    def _run_flow(self, flow: list[dict[str, Any]], bundles: dict[int, Any], run: Run, trigger: Any = None) -> None:
        if not flow:
            return
        module, rest = flow[0], flow[1:]
        if module.get("filter") and not passes(module["filter"], bundles):
            return
        run.executed.append(module["id"])
        kind = module["module"]
        mapper = module.get("mapper") or {}
        if kind == "builtin:BasicRouter":
            for route in module["routes"]:
                self._run_flow(route["flow"], bundles, run)
            return
        if kind == "builtin:BasicFeeder":
            items = evaluate_field(mapper["array"], bundles) or []
            for item in items:
                self._run_flow(rest, {**bundles, module["id"]: item}, run)
            return
        outputs = {
            "gateway:CustomWebHook": lambda: trigger,
            "util:ComposeTransformer": lambda: {"value": render_text(mapper["value"], bundles)},
            "json:TransformToJSON": lambda: {"json": json.dumps(evaluate_field(mapper["object"], bundles),
                                                                ensure_ascii=False)},
            "json:ParseJSON": lambda: json.loads(render_text(mapper["json"], bundles)),
            "http:MakeRequest": lambda: self._http(module, bundles, run),
            "gateway:WebhookRespond": lambda: run.responses.append(_respond(mapper, bundles)) or {},
            "google-sheets:addRow": lambda: run.rows.append(
                (mapper["sheetId"], [render_text(v, bundles) for _, v in sorted(mapper["values"].items(),
                                                                              key=lambda kv: int(kv[0]))])) or {},
        }
        if kind not in outputs:
            raise NotImplementedError(f"module {kind} is not emulated")
        self._run_flow(rest, {**bundles, module["id"]: outputs[kind]()}, run)

    def _http(self, module: dict[str, Any], bundles: dict[int, Any], run: Run) -> dict[str, Any]:
        request = build_request(module, bundles)
        answer = self.transport(request)
        run.requests.append((module["id"], request, answer))
        mapper = module["mapper"]
        if mapper.get("stopOnHttpError", True) and answer.status >= 400:
            raise ScenarioError(f"module {module['id']}: HTTP {answer.status}: {answer.body[:300]!r}")
        content_type = {k.lower(): v for k, v in answer.headers.items()}.get("content-type", "")
        data: Any = answer.body.decode("utf-8")
        if mapper.get("parseResponse") and "json" in content_type:
            data = json.loads(data)
        return {"statusCode": answer.status, "headers": answer.headers, "data": data}


def build_request(module: dict[str, Any], bundles: dict[int, Any]) -> SentRequest:
    """The request an ``http:MakeRequest`` module sends, from its mapper and the bundles so far."""
    mapper = module["mapper"]
    if module["module"] != "http:MakeRequest" or mapper.get("inputMethod") != "jsonString":
        raise NotImplementedError("only http:MakeRequest with a JSON string body is emulated")
    headers = {"User-Agent": "Make/production"}
    for header in mapper.get("headers") or []:
        headers[render_text(header["name"], bundles)] = render_text(header["value"], bundles)
    if mapper.get("contentType") == "json":
        headers.setdefault("Content-Type", "application/json")
    body = render_text(mapper.get("jsonStringBodyContent", ""), bundles).encode("utf-8")
    return SentRequest(mapper["method"].upper(), render_text(mapper["url"], bundles), headers, body)


def _respond(mapper: dict[str, Any], bundles: dict[int, Any]) -> dict[str, Any]:
    return {"status": int(render_text(mapper["status"], bundles)),
            "body": render_text(mapper.get("body", ""), bundles),
            "headers": {h["key"]: render_text(h["value"], bundles) for h in mapper.get("headers") or []}}


def _modules(flow: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for module in flow:
        found.append(module)
        for route in module.get("routes") or []:
            found.extend(_modules(route["flow"]))
    return found


# -- the mapping language --------------------------------------------------------------------------

def resolve(expression: str, bundles: dict[int, Any]) -> Any:
    """The value of one ``n.path`` expression; a missing step is empty (None), as in Make."""
    match = PATH.match(expression.strip())
    if not match:
        raise NotImplementedError(f"expression {{{{{expression}}}}} is not emulated")
    module_id = int(match.group(1))
    if module_id not in bundles:
        raise ScenarioError(f"{{{{{expression}}}}}: module {module_id} has not run on this path")
    value = bundles[module_id]
    for name, index in STEP.findall(match.group(2)):
        if value is None:
            return None
        if name:
            value = value.get(name) if isinstance(value, dict) else None
        else:
            position = int(index) - 1
            value = value[position] if isinstance(value, list) and 0 <= position < len(value) else None
    return value


def as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    if isinstance(value, list) and all(not isinstance(item, (dict, list)) for item in value):
        return ", ".join(as_text(item) for item in value)
    raise ScenarioError(f"a collection cannot be mapped into text: {value!r:.80}")


def evaluate_field(template: Any, bundles: dict[int, Any]) -> Any:
    """A mapped field: one bare expression keeps its type, anything else is text."""
    if isinstance(template, str):
        whole = EXPRESSION.fullmatch(template.strip())
        if whole:
            return resolve(whole.group(1), bundles)
        return render_text(template, bundles)
    return template


def render_text(template: Any, bundles: dict[int, Any]) -> str:
    if not isinstance(template, str):
        return as_text(template)
    return EXPRESSION.sub(lambda m: as_text(resolve(m.group(1), bundles)), template)


# -- filters ---------------------------------------------------------------------------------------

def _number(value: Any) -> float:
    return float(as_text(value))


def _boolean(value: Any) -> bool:
    return value if isinstance(value, bool) else as_text(value).strip().lower() == "true"


OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "exist": lambda a, _b: a is not None and a != "",
    "notexist": lambda a, _b: a is None or a == "",
    "text:equal": lambda a, b: as_text(a) == as_text(b),
    "text:notequal": lambda a, b: as_text(a) != as_text(b),
    "boolean:equal": lambda a, b: _boolean(a) == _boolean(b),
    "boolean:notequal": lambda a, b: _boolean(a) != _boolean(b),
    "number:equal": lambda a, b: _number(a) == _number(b),
    "number:greater": lambda a, b: _number(a) > _number(b),
    "number:less": lambda a, b: _number(a) < _number(b),
}


def passes(flt: dict[str, Any], bundles: dict[int, Any]) -> bool:
    """Make's filter: OR over groups, AND inside a group."""
    def holds(condition: dict[str, Any]) -> bool:
        a = evaluate_field(condition["a"], bundles)
        b = evaluate_field(condition.get("b"), bundles)
        return OPERATORS[condition["o"]](a, b)

    return any(all(holds(condition) for condition in group) for group in flt["conditions"])
