"""Checking a reviewer's edit before it is approved and sent downstream, and the label picker's choices.

A draft that is JSON (a classification ``{"label": ...}``, a CRM record under an output schema) is read
by a program on the other side: an edit that breaks the JSON, picks a label the request did not allow,
or breaks the caller's schema would be approved and sent on, and fail there. The same check runs for
the review page and ``POST /v1/reviews/<id>/decision`` (both decide through ``app.reviews.service.decide``),
and the error names the field, ``text``.

The allowed labels and the schema come from the stored request the review belongs to: ``labels`` and
``output_schema`` of a ``/v1/fallback`` body, the label list of a ``/v1/classify`` request.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from sqlalchemy.orm import Session

from app.errors import InvalidField
from app.store import Request, Review


@dataclass(frozen=True)
class EditRules:
    labels: list[str] | None  # the request's allowed labels, in its order
    schema: dict[str, Any] | None  # the caller's output schema
    json_draft: bool  # the draft is JSON, so the edit must be too
    bare_label_draft: bool = False  # the draft is just a label, so the edit must be one too

    def canonical_label(self, label: Any) -> str | None:
        """The allowed label ``label`` names (case and spaces ignored, as the label gate does), or None."""
        if not isinstance(label, str) or not self.labels:
            return None
        return {name.casefold(): name for name in self.labels}.get(label.strip().casefold())


def _names(labels: Any) -> list[str] | None:
    if not isinstance(labels, list) or not labels:
        return None
    names = [str(label.get("name")) if isinstance(label, dict) else str(label) for label in labels]
    return [name for name in names if name.strip()] or None


def _parse(text: str | None) -> tuple[bool, Any]:
    try:
        return True, json.loads(text or "")
    except (TypeError, ValueError):
        return False, None


def edit_rules(session: Session, review: Review) -> EditRules:
    request = session.get(Request, review.request_id) if review.request_id else None
    payload = (request.payload if request is not None else None) or {}
    spec = payload.get("spec") if isinstance(payload.get("spec"), dict) else {}
    labels = _names(spec.get("labels")) or _names(payload.get("labels"))
    schema = payload.get("output_schema") if isinstance(payload.get("output_schema"), dict) else None
    parsed_ok, parsed = _parse(review.draft)
    rules = EditRules(labels, schema, parsed_ok and isinstance(parsed, (dict, list)))
    bare = not rules.json_draft and rules.canonical_label((review.draft or "").strip().strip("\"'")) is not None
    return EditRules(labels, schema, rules.json_draft, bare)


def current_label(rules: EditRules, text: str | None) -> str | None:
    """The allowed label a draft (or edit) holds: ``{"label": ...}`` or a bare label."""
    ok, parsed = _parse(text)
    if ok and isinstance(parsed, dict):
        return rules.canonical_label(parsed.get("label"))
    return rules.canonical_label(text or "")


def with_label(text: str, label: str) -> str:
    """The text with its label replaced by the picker's choice (a JSON object keeps its other fields)."""
    ok, parsed = _parse(text)
    if ok and isinstance(parsed, dict):
        return json.dumps({**parsed, "label": label}, ensure_ascii=False)
    return label


def check_edit(rules: EditRules, text: str) -> None:
    """InvalidField("text") unless the edited text is what the workflow on the other side can read."""
    ok, parsed = _parse(text)
    if (rules.json_draft or rules.schema) and not ok:
        try:
            json.loads(text)
        except ValueError as exc:
            raise InvalidField(f"the edited text is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); "
                               "the draft is JSON and the workflow reads it as JSON", "text") from None
    if rules.labels:
        if ok and isinstance(parsed, dict) and "label" in parsed:
            if rules.canonical_label(parsed["label"]) is None:
                raise InvalidField(f"label {parsed['label']!r} is not one of the request's labels: "
                                   f"{', '.join(rules.labels)}", "text")
        elif rules.bare_label_draft and rules.canonical_label(text) is None:
            raise InvalidField(f"{text.strip()!r} is not one of the request's labels: {', '.join(rules.labels)}", "text")
    if rules.schema and ok:
        errors = sorted(Draft202012Validator(rules.schema).iter_errors(parsed), key=lambda error: list(error.path))
        if errors:
            where = "/".join(str(part) for part in errors[0].path) or "(the whole value)"
            raise InvalidField(f"the edited text does not match the request's output schema at {where}: "
                               f"{errors[0].message}", "text")
