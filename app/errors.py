"""Tiergate's exceptions, and the one place they become the API's JSON errors.

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

from flask import Flask, jsonify
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException


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

    def __init__(self, message: str, *, retryable: bool = False, status: int | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.status = status


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


def error_response(status: int, code: str, message: str, field: str | None = None, headers: dict | None = None):
    response = jsonify({"error": {"code": code, "message": message, "field": field}})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def validation_field(error: dict[str, Any]) -> str | None:
    """Dotted field path of one pydantic error, skipping pydantic's internal union tags."""
    parts = [str(part) for part in error.get("loc", ()) if not str(part).startswith(("function-", "union["))]
    return ".".join(parts) or None


def init_app(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.field, exc.headers)

    @app.errorhandler(ValidationError)
    def _validation_error(exc: ValidationError):
        first = exc.errors()[0]
        field = validation_field(first)
        message = first["msg"].removeprefix("Value error, ")
        return error_response(422, "invalid", f"{field}: {message}" if field else message, field)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = {413: "too_large", 404: "not_found", 405: "method_not_allowed"}.get(exc.code or 500, "http_error")
        return error_response(exc.code or 500, code, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        dependency = _unavailable_dependency(exc)
        if dependency is not None:  # the database or Redis is down: say so, and when to try again
            app.logger.warning("%s unreachable: %s: %s", dependency, type(exc).__name__, str(exc).splitlines()[0][:200])
            return error_response(503, "unavailable", f"{dependency} is unreachable; nothing was stored, "
                                  "try again shortly", headers={"Retry-After": str(DEPENDENCY_RETRY_AFTER_SECONDS)})
        app.logger.exception("unhandled error")
        return error_response(500, "internal", "internal error; the request was not processed")


# What a caller should wait before retrying when the database or Redis is down.
DEPENDENCY_RETRY_AFTER_SECONDS = 5


def _unavailable_dependency(exc: Exception) -> str | None:
    """"the database" or "Redis" when ``exc`` means that dependency is unreachable, else None."""
    from redis.exceptions import ConnectionError as RedisConnectionError, TimeoutError as RedisTimeoutError
    from sqlalchemy.exc import DBAPIError, TimeoutError as PoolTimeout

    if isinstance(exc, (RedisConnectionError, RedisTimeoutError)):
        return "Redis"
    if isinstance(exc, PoolTimeout) or (isinstance(exc, DBAPIError) and exc.connection_invalidated):
        return "the database"
    if isinstance(exc, DBAPIError) and type(exc.orig).__name__ in ("OperationalError", "InterfaceError"):
        return "the database"
    return None
