"""The OpenAPI document, assembled from what the API modules declare about themselves.

Each view module calls ``document(...)`` next to its view, so the document lists exactly the
endpoints that exist, with request schemas taken from the same pydantic models that validate them.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel

API_TITLE = "Tiergate"
API_VERSION = "1.0.0"
ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "object", "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": ["string", "null"]}}}},
}

# The drop-in endpoints answer errors in their wire format (app.gateway.openai_format / anthropic_format).
OPENAI_ERROR_SCHEMA = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["message", "type"], "properties": {
        "message": {"type": "string"}, "type": {"type": "string"}, "param": {"type": ["string", "null"]},
        "code": {"type": ["string", "null"]}}}},
}
ANTHROPIC_ERROR_SCHEMA = {
    "type": "object", "required": ["type", "error"],
    "properties": {"type": {"const": "error"}, "error": {"type": "object", "required": ["type", "message"],
                                                         "properties": {"type": {"type": "string"},
                                                                        "message": {"type": "string"}}}},
}

_paths: dict[str, dict[str, Any]] = {}
_schemas: dict[str, Any] = {"Error": ERROR_SCHEMA, "OpenAIError": OPENAI_ERROR_SCHEMA,
                            "AnthropicError": ANTHROPIC_ERROR_SCHEMA}


def document(path: str, method: str, summary: str, *, scope: str | None = None,
             request_model: type[BaseModel] | None = None, responses: dict[str, str] | None = None,
             parameters: list[dict[str, Any]] | None = None, error_schema: str | tuple[str, ...] = "Error",
             request_schema: tuple[str, dict[str, Any]] | None = None) -> None:
    """Add an operation. ``error_schema`` names the component(s) its 4xx/5xx bodies follow; a body not
    validated by a pydantic model (the drop-in wire formats) is given as ``request_schema``, (name, schema)."""
    refs = [{"$ref": f"#/components/schemas/{name}"}
            for name in ((error_schema,) if isinstance(error_schema, str) else error_schema)]
    error = {"application/json": {"schema": refs[0] if len(refs) == 1 else {"anyOf": refs}}}
    operation: dict[str, Any] = {"summary": summary, "responses": {}}
    for status, description in (responses or {"200": "OK"}).items():
        response: dict[str, Any] = {"description": description}
        if status.startswith(("4", "5")):
            response["content"] = error
        operation["responses"][status] = response
    if scope:
        operation["security"] = [{"bearer": []}, {"apiKey": []}]
        operation["description"] = f"Needs an API key with the '{scope}' scope (or 'admin')."
        operation["responses"].setdefault("401", {"description": "missing or bad API key", "content": error})
    if request_schema is not None:
        name, schema = request_schema
        _schemas[name] = schema
        operation["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}}
    if request_model is not None:
        schema = request_model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in schema.pop("$defs", {}).items():
            _schemas[name] = definition
        _schemas[request_model.__name__] = schema
        ref = {"$ref": f"#/components/schemas/{request_model.__name__}"}
        operation["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": ref}, "application/x-www-form-urlencoded": {"schema": ref}}}
        operation["responses"].setdefault("422", {"description": "a field is invalid",
                                                  "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
    if parameters:
        operation["parameters"] = parameters
    _paths.setdefault(path, {})[method.lower()] = operation


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": API_TITLE, "version": API_VERSION,
                 "description": "Routes each LLM task to the cheapest tier that does it well."},
        "paths": dict(sorted(_paths.items())),
        "components": {
            "schemas": _schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
        },
    }
