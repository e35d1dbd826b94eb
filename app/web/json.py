"""Flask's JSON responses written by orjson: with the stdlib encoder, writing the answer was a visible
share of a proxied request's CPU (issue 24).

The output means the same as Flask's default provider's: dates as HTTP dates, ``Decimal`` and ``UUID``
as strings, dataclasses as objects, keys in insertion order (the app never asked for sorted keys), a
trailing newline. orjson writes UTF-8 where the stdlib escaped non-ASCII characters; a JSON reader sees
the same strings. Anything orjson refuses (an integer past 64 bits) goes through the stdlib as before.
"""
from __future__ import annotations

import dataclasses
import decimal
import uuid
from datetime import date
from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider
from werkzeug.http import http_date

OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


def _default(value: Any) -> Any:
    """What Flask's default provider does with the types JSON lacks."""
    if isinstance(value, date):
        return http_date(value)
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if hasattr(value, "__html__"):
        return str(value.__html__())
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


class OrjsonProvider(DefaultJSONProvider):
    """``jsonify``, ``app.json.dumps`` and views returning a dict, through orjson."""

    def _encode(self, obj: Any) -> bytes:
        try:
            return orjson.dumps(obj, default=_default, option=OPTIONS)
        except orjson.JSONEncodeError:
            return super().dumps(obj).encode()

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if kwargs:  # a caller's own stdlib options (indent, sort_keys...)
            return super().dumps(obj, **kwargs)
        return self._encode(obj).decode()

    def response(self, *args: Any, **kwargs: Any):
        obj = self._prepare_response_obj(args, kwargs)
        if self.compact is False or (self.compact is None and self._app.debug):
            return super().response(obj)
        return self._app.response_class(self._encode(obj) + b"\n", mimetype=self.mimetype)


__all__ = ["OrjsonProvider"]
