"""Tiergate's exceptions (``app.web.errors`` turns them into the API's JSON errors).

    TiergateError
    ├── ConfigError        a setting from the environment is invalid (names the variable)
    │   └── WeightFileError  the learned router's weight file is missing or corrupt (app.routing.learned)
    ├── PolicyError        the policy file is invalid (names file, line and field)
    ├── ProviderError      a model provider failed after its retries (see app.providers)
    ├── CallbackDeliveryError  a callback target kept failing (app.execution.callbacks; retried by RQ)
    └── ApiError           refused request; carries HTTP status, code and the offending field
        ├── BadRequest (400), Unauthorized (401), Forbidden (403), NotFound (404),
        ├── Conflict (409), PayloadTooLarge (413), InvalidField (422), TooManyRequests (429)
        └── CallbackRefused (422, app.execution.callbacks): a callback_url to a private or loopback target

Every error answer has the contract's shape ``{"error": {"code", "message", "field"}}``.
"""
from __future__ import annotations

from typing import Any



class TiergateError(Exception):
    """Base of every error Tiergate raises on purpose."""


class ConfigError(TiergateError):
    """An environment setting has a value Tiergate cannot use."""


class PolicyError(TiergateError):
    """The policy file does not validate; ``problems`` holds ``(field path, message)`` pairs."""

    def __init__(self, message: str, problems: list[tuple[tuple[Any, ...], str]] | None = None):
        super().__init__(message)
        self.problems = problems or []


class ProviderError(TiergateError):
    """A provider call failed for good (after the SDK's and our own retries)."""

    def __init__(self, message: str, *, retryable: bool = False, status: int | None = None,
                 outcome_unknown: bool = False):
        super().__init__(message)
        self.retryable = retryable
        self.status = status
        # The request reached the provider and the answer never came back whole (a timeout, a cut
        # connection or stream): the provider may have billed it, so it is booked at its estimate.
        self.outcome_unknown = outcome_unknown


class ApiError(TiergateError):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, field: str | None = None, *, code: str | None = None, status: int | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.headers = headers or {}
        if code:
            self.code = code
        if status:
            self.status = status

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "field": self.field}}


class BadRequest(ApiError):
    status, code = 400, "malformed"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class NotFound(ApiError):
    status, code = 404, "not_found"


class Conflict(ApiError):
    status, code = 409, "conflict"


class PayloadTooLarge(ApiError):
    status, code = 413, "too_large"


class InvalidField(ApiError):
    status, code = 422, "invalid"


class TooManyRequests(ApiError):
    status, code = 429, "too_many_requests"


def validation_field(error: dict[str, Any]) -> str | None:
    """Dotted field path of one pydantic error, skipping pydantic's internal union tags."""
    parts = [str(part) for part in error.get("loc", ()) if not str(part).startswith(("function-", "union["))]
    return ".".join(parts) or None
