"""The programmatic gates: free, instant, and they catch the gross failures."""
from __future__ import annotations

import importlib
import json
import re
from typing import Any

from app.errors import PolicyError
from app.gates.base import Gate, GateContext, GateResult

FENCE = re.compile(r"^\s*```[a-zA-Z]*\s*\n?(?P<body>.*?)\n?\s*```\s*$", re.DOTALL)


def parse_json(text: str) -> Any:
    """Parse a model's JSON answer, tolerating a Markdown code fence around it; raises ValueError."""
    match = FENCE.match(text)
    return json.loads(match["body"] if match else text)


def _parsed(output_text: str, context: GateContext) -> Any:
    if context.parsed is not None:
        return context.parsed
    return parse_json(output_text)


class NonEmpty(Gate):
    name, order = "non_empty", 0

    def check(self, output_text, context):
        return self.passed() if output_text.strip() else self.failed("the answer is empty")


class Length(Gate):
    name, order = "length", 10

    def check(self, output_text, context):
        size = len(output_text.strip())
        low, high = self.params.get("min_chars"), self.params.get("max_chars")
        if low is not None and size < low:
            return self.failed(f"the answer has {size} characters; at least {low} are required")
        if high is not None and size > high:
            return self.failed(f"the answer has {size} characters; at most {high} are allowed")
        return self.passed(f"{size} characters")


class Regex(Gate):
    name, order = "regex", 20

    def __init__(self, **params):
        super().__init__(**params)
        if not params.get("pattern"):
            raise PolicyError("gate regex needs a 'pattern'")
        self.pattern = re.compile(params["pattern"], re.DOTALL if params.get("dotall") else 0)

    def check(self, output_text, context):
        text = output_text.strip()
        found = self.pattern.fullmatch(text) if self.params.get("fullmatch") else self.pattern.search(text)
        if found:
            return self.passed()
        return self.failed(f"the answer does not match the pattern {self.pattern.pattern!r}")


class Json(Gate):
    name, order = "json", 30

    def check(self, output_text, context):
        try:
            parsed = parse_json(output_text)
        except ValueError as exc:
            return self.failed(f"the answer is not valid JSON: {exc}")
        context.parsed = parsed
        return self.passed("valid JSON", parsed)


class Schema(Gate):
    """JSON Schema (from the gate, the request or the task type) or a pydantic model ``module:Class``."""

    name, order = "schema", 40

    def check(self, output_text, context):
        schema = self.params.get("schema") or context.output_schema
        model_path = self.params.get("model") or context.output_model
        if schema is None and model_path is None:
            return self.passed("no output schema given; not checked")
        try:
            parsed = _parsed(output_text, context)
        except ValueError as exc:
            return self.failed(f"the answer is not valid JSON: {exc}")
        if model_path:
            return self._check_model(model_path, parsed)
        import jsonschema  # lazy: only tasks with a schema need it

        validator_cls = jsonschema.validators.validator_for(schema)
        error = jsonschema.exceptions.best_match(validator_cls(schema).iter_errors(parsed))
        if error is None:
            return self.passed("matches the output schema", parsed)
        where = "/".join(str(part) for part in error.absolute_path) or "(root)"
        return self.failed(f"schema violation at {where}: {error.message}", parsed)

    def _check_model(self, model_path: str, parsed: Any) -> GateResult:
        from pydantic import ValidationError

        module_name, _, class_name = model_path.partition(":")
        try:
            model = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError):
            raise PolicyError(f"output_model {model_path!r} cannot be imported") from None
        try:
            instance = model.model_validate(parsed)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = "/".join(str(part) for part in first["loc"]) or "(root)"
            return self.failed(f"schema violation at {where}: {first['msg']}", parsed)
        return self.passed(f"matches {class_name}", instance.model_dump(mode="json"))


class LabelInSet(Gate):
    """The answer's label (``{"label": ...}`` or the bare text) is one of the allowed labels."""

    name, order = "label_in_set", 50

    def check(self, output_text, context):
        labels = self.params.get("labels") or context.labels
        if not labels:
            return self.passed("no allowed labels given; not checked")
        try:
            parsed = _parsed(output_text, context)
        except ValueError:
            parsed = None
        label = parsed.get("label") if isinstance(parsed, dict) else output_text.strip().strip("\"'")
        canonical = {str(name).casefold(): name for name in labels}
        if isinstance(label, str) and label.strip().casefold() in canonical:
            return self.passed(f"label {canonical[label.strip().casefold()]!r} is allowed", parsed)
        return self.failed(f"label {label!r} is not one of the allowed labels: {', '.join(map(str, labels))}",
                           parsed)


class Confidence(Gate):
    """An answer that reports its own ``confidence`` below the threshold counts as unsure."""

    name, order, retry_same_tier = "confidence", 60, False

    def check(self, output_text, context):
        try:
            parsed = _parsed(output_text, context)
        except ValueError:
            return self.passed("no confidence reported")
        value = parsed.get("confidence") if isinstance(parsed, dict) else None
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return self.passed("no confidence reported")
        threshold = self.params.get("min", context.confidence_threshold)
        if value < threshold:
            return self.failed(f"the model is unsure: confidence {value:g} is below {threshold:g}", parsed)
        return self.passed(f"confidence {value:g}", parsed)
