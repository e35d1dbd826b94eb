"""Read a request body the way no-code tools send it.

Zapier's Webhooks action posts form-encoded fields by default, n8n and Make usually post JSON. Both
become one dict here: form values stay strings (pydantic's lax mode turns "true" and "0.8" into the
right types), list fields accept repeated keys or a comma-separated value, and ``metadata[x]`` or
``metadata.x`` keys become a nested object.
"""
from __future__ import annotations

import json
import re
from typing import Any

from flask import request

from app.errors import BadRequest

NESTED_KEY = re.compile(r"^(\w+)(?:\[(\w+)\]|\.(\w+))$")
# A form value of these fields may carry JSON (e.g. an output_schema pasted into Zapier).
JSON_FORM_FIELDS = {"output_schema", "metadata", "messages"}


def read_body(list_fields: frozenset[str] = frozenset()) -> dict[str, Any]:
    if request.is_json or (request.mimetype in ("", "text/plain") and request.get_data(cache=True)[:1] in (b"{", b"[")):
        return _json_body()
    return _form_body(list_fields)


def _json_body() -> dict[str, Any]:
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from None
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
                items = _json_field(name, items[0])
            body[name] = items
        elif name in JSON_FORM_FIELDS and values[-1].lstrip().startswith(("{", "[")):
            body[name] = _json_field(name, values[-1])
        else:
            body[name] = values[-1]
    return body


def _json_field(name: str, value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError as exc:
        raise BadRequest(f"form field '{name}' looks like JSON but does not parse: {exc}", name) from None
