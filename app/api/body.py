"""Read a request body the way no-code tools send it.

Zapier's Webhooks action posts form-encoded fields by default, n8n and Make usually post JSON. Both
become one dict here: form values stay strings (pydantic's lax mode turns "true" and "0.8" into the
right types), list fields accept repeated keys or a comma-separated value, and ``metadata[x]`` or
``metadata.x`` keys become a nested object.

Every JSON the API reads (the body, or a form field carrying JSON) goes through ``parse_json``, so
parser trouble is always a 400 naming the problem: bad syntax, nesting deeper than
``MAX_JSON_DEPTH`` (deeper values broke the parser and pydantic's serializer with a 500), or NaN and
infinities (not JSON: PostgreSQL refuses them, and echoed back they break the caller's parser).
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

from flask import request

from app.errors import BadRequest

NESTED_KEY = re.compile(r"^(\w+)(?:\[(\w+)\]|\.(\w+))$")
# A form value of these fields may carry JSON (e.g. an output_schema pasted into Zapier).
JSON_FORM_FIELDS = {"output_schema", "metadata", "messages"}
# Levels of objects and arrays in one body. A JSON Schema in output_schema rarely passes 20; pydantic's
# serializer gives up a little past 250 and json.loads near 1000.
MAX_JSON_DEPTH = 64


def read_body(list_fields: frozenset[str] = frozenset()) -> dict[str, Any]:
    if request.is_json or (request.mimetype in ("", "text/plain") and request.get_data(cache=True)[:1] in (b"{", b"[")):
        return _json_body()
    return _form_body(list_fields)


def _json_body() -> dict[str, Any]:
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise BadRequest("the JSON body must be an object with the request fields")
    return body


def _form_body(list_fields: frozenset[str]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    form = request.form
    for key in form.keys():
        values = form.getlist(key)
        nested = NESTED_KEY.match(key)
        if nested and nested.group(1) not in list_fields:
            parent, child = nested.group(1), nested.group(2) or nested.group(3)
            body.setdefault(parent, {})
            if isinstance(body[parent], dict):
                body[parent][child] = values[-1]
            continue
        name = key[:-2] if key.endswith("[]") else key
        if name in list_fields:
            items = [value for value in values if value != ""]
            if len(items) == 1 and "," in items[0] and not items[0].lstrip().startswith(("[", "{")):
                items = [part.strip() for part in items[0].split(",") if part.strip()]
            elif len(items) == 1 and items[0].lstrip().startswith("["):
                items = parse_json(items[0], name)
            body[name] = items
        elif name in JSON_FORM_FIELDS and values[-1].lstrip().startswith(("{", "[")):
            body[name] = parse_json(values[-1], name)
        else:
            body[name] = values[-1]
    return body


def parse_json(raw: bytes | str, field: str | None = None) -> Any:
    """Parse JSON the API accepts, or raise BadRequest naming the problem (and the field, when known)."""
    where = f"form field '{field}'" if field else "body"
    try:
        value = json.loads(raw, parse_constant=_not_a_number, parse_float=_finite_float)
    except RecursionError:
        raise BadRequest(f"{where} is nested too deeply; at most {MAX_JSON_DEPTH} levels of objects and arrays",
                         field) from None
    except _NonFiniteNumber as exc:
        raise BadRequest(f"{where} has the number {exc}, which JSON cannot carry; send a finite number", field) \
            from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"{where} is not valid JSON: {exc}", field) from None
    too_deep = _too_deep_at(value)
    if too_deep is not None:
        raise BadRequest(f"{where} is nested too deeply; at most {MAX_JSON_DEPTH} levels of objects and arrays",
                         field or too_deep or None)
    return value


class _NonFiniteNumber(ValueError):
    pass


def _not_a_number(constant: str) -> float:
    raise _NonFiniteNumber(constant)


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _NonFiniteNumber(text)
    return number


def _too_deep_at(value: Any) -> str | None:
    """The top-level key under which ``value`` nests deeper than MAX_JSON_DEPTH ("" if not under a key), else None.

    Walks with an explicit stack: recursion is what deep input attacks.
    """
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        node, depth, top = stack.pop()
        if not isinstance(node, (dict, list)):
            continue
        if depth > MAX_JSON_DEPTH:
            return top
        if isinstance(node, dict):
            stack.extend((child, depth + 1, top or str(key)) for key, child in node.items())
        else:
            stack.extend((child, depth + 1, top) for child in node)
    return None
