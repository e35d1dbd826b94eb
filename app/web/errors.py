"""The one place Tiergate's exceptions become the API's JSON errors: ``{"error": {"code", "message", "field"}}``.

A refused request (``ApiError``) answers its own status; a body that does not validate answers 422 naming
the field; a full disk answers 507 naming it (``app.store.disk``: the cure is space, not patience); a
database or Redis outage answers 503 with ``Retry-After`` (``unavailable``: the drop-in endpoints answer
both refusals in their own wire format too); anything else answers 500.
"""
from __future__ import annotations

from flask import Flask, jsonify
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from app.errors import ApiError, validation_field
from app.store.disk import disk_full


def error_response(status: int, code: str, message: str, field: str | None = None, headers: dict | None = None):
    response = jsonify({"error": {"code": code, "message": message, "field": field}})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


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
        refused = unavailable(exc, app.logger, app.config["TIERGATE"].data_dir)
        if refused is not None:
            return _api_error(refused)
        app.logger.exception("unhandled error")
        return error_response(500, "internal", "internal error; the request was not processed")


# What a caller should wait before retrying when the database or Redis is down.
DEPENDENCY_RETRY_AFTER_SECONDS = 5


def unavailable(exc: Exception, logger, data_dir) -> ApiError | None:
    """The 507 for an exception that means a full disk, the 503 (with ``Retry-After``) for one that means
    the database or Redis is down, else None.

    Every blueprint with its own error format (the drop-in endpoints) answers these same refusals in it."""
    if full := disk_full(exc, data_dir):
        return ApiError(f"{full}; nothing was stored, free space and try again", code="disk_full", status=507,
                        headers={"Retry-After": str(DEPENDENCY_RETRY_AFTER_SECONDS)})
    dependency = _unavailable_dependency(exc)
    if dependency is None:
        return None
    logger.warning("%s unreachable: %s: %s", dependency, type(exc).__name__, str(exc).splitlines()[0][:200])
    return ApiError(f"{dependency} is unreachable; nothing was stored, try again shortly", code="unavailable",
                    status=503, headers={"Retry-After": str(DEPENDENCY_RETRY_AFTER_SECONDS)})


def _unavailable_dependency(exc: Exception) -> str | None:
    """"the database" or "Redis" when ``exc`` means that dependency is unreachable, else None."""
    from redis.exceptions import ConnectionError as RedisConnectionError, TimeoutError as RedisTimeoutError

    from app.store.db import unreachable

    if isinstance(exc, (RedisConnectionError, RedisTimeoutError)):
        return "Redis"
    return "the database" if unreachable(exc) else None
