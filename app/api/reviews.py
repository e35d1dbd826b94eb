"""The review queue over the API, for teams that review inside their own tools (``review`` scope)."""
from __future__ import annotations

import math
from typing import Literal

from flask import g, jsonify, request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.api import bp
from app.api.body import read_body
from app.api.auth import require_scope
from app.errors import InvalidField
from app.web.openapi import document
from app.reviews.service import KINDS, MAX_PAGE_SIZE, STATUSES, DecisionInput, QueueFilter, attempts_of, count_reviews, decide, \
    get_review, list_reviews, queue_counts, review_json
from app.store import db

# Age filters past this are meaningless, and far past it the date arithmetic overflows (a 500).
MAX_AGE_MINUTES = 10 * 366 * 24 * 60
MAX_OFFSET = 10**9  # past any real queue; far past it the database's integer overflows


class DecisionBody(BaseModel):
    """``POST /v1/reviews/<id>/decision``; field names are the contract (docs/architecture.md, "API contract")."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    action: Literal["approve", "reject", "rerun"]
    text: str | None = Field(default=None, max_length=200_000)
    note: str | None = Field(default=None, max_length=10_000)
    minutes_spent: float | None = Field(default=None, ge=0, le=24 * 60)
    correct: bool | None = None
    reviewer: str | None = Field(default=None, max_length=200)

    @field_validator("action", mode="before")
    @classmethod
    def _lower(cls, value):
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("minutes_spent", "correct", "text", "note", "reviewer", mode="before")
    @classmethod
    def _blank_is_absent(cls, value):
        return None if isinstance(value, str) and not value.strip() else value


def _number_arg(name: str, *, integer: bool = False, maximum: float | None = None) -> float | int | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        raise InvalidField(f"{name} must be a number", name) from None
    if not math.isfinite(value):
        raise InvalidField(f"{name} must be a finite number", name)
    if value < 0:
        raise InvalidField(f"{name} must not be negative", name)
    if maximum is not None and value > maximum:
        raise InvalidField(f"{name} must be at most {maximum:g}", name)
    return value


def filter_from_args() -> QueueFilter:
    """The queue filter from query arguments; ``status=all`` lists every status."""
    status = request.args.get("status", "pending").strip().lower() or "pending"
    if status not in (*STATUSES, "all"):
        raise InvalidField(f"status must be one of {', '.join(STATUSES)} or all", "status")
    kind = request.args.get("kind", "").strip().lower() or None
    if kind and kind not in KINDS:
        raise InvalidField(f"kind must be one of {', '.join(KINDS)}", "kind")
    limit = _number_arg("limit", integer=True)
    if limit is not None and not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidField(f"limit must be between 1 and {MAX_PAGE_SIZE}", "limit")
    offset = _number_arg("offset", integer=True, maximum=MAX_OFFSET) or 0
    return QueueFilter(status=None if status == "all" else status, kind=kind,
                       task_type=request.args.get("task_type", "").strip() or None,
                       reason=request.args.get("reason", "").strip() or None,
                       older_than_minutes=_number_arg("older_than_minutes", maximum=MAX_AGE_MINUTES),
                       newer_than_minutes=_number_arg("newer_than_minutes", maximum=MAX_AGE_MINUTES),
                       search=request.args.get("q", "").strip() or None, offset=offset,
                       **({"limit": limit} if limit else {}))


@bp.get("/reviews")
@require_scope("review")
def reviews_list():
    flt = filter_from_args()
    items = [review_json(review) for review in list_reviews(db(), flt)]
    return jsonify({"items": items, "count": len(items), "total": count_reviews(db(), flt), "offset": flt.offset,
                    "counts": queue_counts(db(), flt)})


@bp.get("/reviews/<review_id>")
@require_scope("review")
def reviews_get(review_id: str):
    review = get_review(db(), review_id)
    return jsonify(review_json(review, attempts_of(db(), review)))


@bp.post("/reviews/<review_id>/decision")
@require_scope("review")
def reviews_decide(review_id: str):
    body = DecisionBody.model_validate(read_body())
    who = f"{body.reviewer} (key {g.api_key.name})" if body.reviewer else f"key {g.api_key.name}"
    review = decide(db(), review_id, DecisionInput(action=body.action, text=body.text, note=body.note,
                                                   minutes_spent=body.minutes_spent, correct=body.correct), who)
    return jsonify(review_json(review, attempts_of(db(), review)))


REVIEW_ID = {"name": "review_id", "in": "path", "required": True, "schema": {"type": "string"},
             "description": "The review item's id (``review_id`` in fallback and classify answers)"}
QUEUE_FILTERS = [
    {"name": "status", "in": "query", "schema": {"type": "string", "enum": [*STATUSES, "all"], "default": "pending"}},
    {"name": "kind", "in": "query", "schema": {"type": "string", "enum": list(KINDS)}},
    {"name": "task_type", "in": "query", "schema": {"type": "string"}},
    {"name": "reason", "in": "query", "schema": {"type": "string"}},
    {"name": "older_than_minutes", "in": "query", "schema": {"type": "number", "minimum": 0, "maximum": MAX_AGE_MINUTES}},
    {"name": "newer_than_minutes", "in": "query", "schema": {"type": "number", "minimum": 0, "maximum": MAX_AGE_MINUTES}},
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE}},
]
document("/v1/reviews", "get", "List review items (default: pending), with counts per status, reason and task type",
         scope="review", parameters=QUEUE_FILTERS + [
             {"name": "q", "in": "query", "schema": {"type": "string"}},
             {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET}}],
         responses={"200": "{items: [...], count, total, offset, counts}; q searches text and metadata, offset pages",
                    "403": "key lacks the review scope", "422": "a filter is invalid"})
document("/v1/reviews/{review_id}", "get", "One review item with its input, draft and every attempt", scope="review",
         parameters=[REVIEW_ID], responses={"200": "the item", "404": "no such item"})
document("/v1/reviews/{review_id}/decision", "post", "Approve (optionally with edited text), reject or re-run an item",
         scope="review", request_model=DecisionBody, parameters=[REVIEW_ID],
         responses={"200": "the decided item", "404": "no such item", "409": "already decided", "422": "invalid field"})
