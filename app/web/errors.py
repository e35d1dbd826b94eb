"""The one place Tiergate's exceptions become the API's JSON errors: ``{"error": {"code", "message", "field"}}``.

A refused request (``ApiError``) answers its own status; a body that does not validate answers 422 naming
the field; a database or Redis outage answers 503 with ``Retry-After``, a full disk 507 naming it
(``app.store.disk``); anything else answers 500.
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
        if full := disk_full(exc, app.config["TIERGATE"].data_dir):  # app.store.disk: space, not patience
            return error_response(507, "disk_full", f"{full}; nothing was stored, free space and try again",
                                  headers={"Retry-After": str(DEPENDENCY_RETRY_AFTER_SECONDS)})
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
