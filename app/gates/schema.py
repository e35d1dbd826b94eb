"""Is a client's JSON Schema usable by the schema gate? Checked when the request arrives, not after a paid call.

``check_schema`` validates a schema against its meta-schema only: a ``$ref`` that points nowhere
(``#/$defs/Missing``, a remote URL we never fetch) passes it, and the schema gate then raised on the
model's answer, so the request was paid for, re-run by the queue's retries and answered with a false
error. Here every ``$ref`` must resolve inside the schema itself (or name a JSON Schema meta-schema):
a remote one would have the worker fetch a URL the client chose.
"""
from __future__ import annotations

from typing import Any, Iterator


def schema_problem(schema: dict[str, Any]) -> str | None:
    """Why ``schema`` cannot be used to check an answer, or None when it can."""
    import jsonschema  # lazy: most requests carry no schema
    from jsonschema_specifications import REGISTRY as META_SCHEMAS
    from referencing import Resource
    from referencing.exceptions import Unresolvable

    validator_cls = jsonschema.validators.validator_for(schema)
    try:
        validator_cls.check_schema(schema)
    except jsonschema.exceptions.SchemaError as exc:
        return f"not a valid JSON Schema: {exc.message}"
    specification = _specification(validator_cls)
    root = Resource.from_contents(schema, default_specification=specification)
    base = root.id() or ""
    resolver = META_SCHEMAS.with_resource(base, root).crawl().resolver(base_uri=base)
    for ref in _refs(schema, top=True):
        try:
            resolver.lookup(ref)
        except Unresolvable:
            return f"$ref {ref!r} does not resolve within the schema (only references into the schema itself, such as '#/$defs/Name', are followed)"
    return None


def _specification(validator_cls):
    from referencing.jsonschema import DRAFT202012, specification_with

    return specification_with(validator_cls.META_SCHEMA.get("$schema", ""), default=DRAFT202012)


def _refs(node: Any, *, top: bool = False) -> Iterator[str]:
    """Every ``$ref`` string, except inside a sub-schema with an ``$id`` of its own (another base URI,
    whose relative references this check would misread: left to the gate rather than refused wrongly)."""
    if isinstance(node, dict):
        if not top and isinstance(node.get("$id"), str):
            return
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref
        for key, value in node.items():
            if key not in ("$ref", "const", "enum", "default", "examples"):  # data, not schemas
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)
