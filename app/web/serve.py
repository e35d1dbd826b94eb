"""gunicorn worker classes that answer gunicorn's own errors in the API's JSON error format.

gunicorn refuses some requests before Flask sees them — a request line over ``--limit-request-line``
(414), a header over ``--limit-request-field_size`` or too many headers (431), an unparseable request
line or header (400) — and writes an HTML page. Callers of the API parse every error as
``{"error": {"code", "message", "field"}}``, so these workers write that instead::

    python -m gevent.monkey --module gunicorn --worker-class app.web.serve.TiergateGeventWorker 'app:create_app()'

Any other error keeps gunicorn's own handling.

Start gunicorn through ``python -m gevent.monkey --module`` for the gevent worker: the master imports
the worker class, so the whole ``app`` package (requests, urllib3, ssl) is imported before gunicorn's
worker patches the standard library, and HTTPS through requests then fails with RecursionError in
the worker (gevent issue 1016). Patching first, in the master, avoids that; the worker logs an error
when it finds ssl unpatched.
"""
from __future__ import annotations

import gc
import json
from datetime import datetime

from gevent import monkey

from gunicorn.http import errors as http_errors
from gunicorn.http.wsgi import Response, default_environ
from gunicorn.util import write_nonblock
from gunicorn.workers.ggevent import GeventWorker
from gunicorn.workers.gthread import ThreadWorker

__all__ = ["JsonErrorsMixin", "TiergateGeventWorker", "TiergateGthreadWorker"]

# Request parsing failures gunicorn answers with 400 (some only exist in newer gunicorn releases).
UNPARSEABLE_REQUEST = tuple(getattr(http_errors, name) for name in (
    "InvalidRequestLine", "InvalidRequestMethod", "InvalidHTTPVersion", "InvalidHeader", "InvalidHeaderName",
    "ObsoleteFolding", "InvalidChunkSize", "ChunkMissingTerminator", "InvalidChunkExtension", "InvalidSchemeHeaders",
    "InvalidProxyLine") if hasattr(http_errors, name))
# gunicorn's request parsing failures -> (status, reason phrase, the API's error code)
REQUEST_ERRORS: tuple[tuple[type[Exception] | tuple[type[Exception], ...], int, str, str], ...] = (
    (http_errors.LimitRequestLine, 414, "URI Too Long", "uri_too_long"),
    (http_errors.LimitRequestHeaders, 431, "Request Header Fields Too Large", "headers_too_large"),
    (UNPARSEABLE_REQUEST, 400, "Bad Request", "malformed"),
)


def request_error(exc: Exception) -> tuple[int, str, str] | None:
    """``(status, reason, code)`` for a gunicorn request parsing failure, or None for anything else."""
    for kinds, status, reason, code in REQUEST_ERRORS:
        if isinstance(exc, kinds):
            return status, reason, code
    return None


def error_message(exc: Exception, status: int, cfg) -> str:
    if status == 414:
        return f"the request line (method, path and query) is longer than {cfg.limit_request_line} bytes"
    if status == 431:
        return (f"request headers are too large: at most {cfg.limit_request_fields} fields of "
                f"{cfg.limit_request_field_size} bytes each")
    return f"the HTTP request does not parse: {exc}"


def json_error_bytes(status: int, reason: str, code: str, message: str) -> bytes:
    body = json.dumps({"error": {"code": code, "message": message, "field": None}}).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode("latin-1") + body


class JsonErrorsMixin:
    """Overrides gunicorn's ``Worker.handle_error`` for request parsing failures; put it first in the bases."""

    def handle_error(self, req, client, addr, exc):
        started = datetime.now()
        known = request_error(exc)
        if known is None:
            return super().handle_error(req, client, addr, exc)
        status, reason, code = known
        message = error_message(exc, status, self.cfg)
        addr = addr or ("", -1)  # unix socket
        self.log.warning("Invalid request from ip=%s: %s %s", addr[0], status, type(exc).__name__)
        payload = json_error_bytes(status, reason, code, message)
        if req is not None:  # the access log, as gunicorn writes it for its own error pages
            environ = default_environ(req, client, self.cfg)
            environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = addr[0], str(addr[1])
            response = Response(req, client, self.cfg)
            response.status, response.response_length = f"{status} {reason}", len(payload)
            self.log.access(response, req, environ, datetime.now() - started)
        try:
            write_nonblock(client, payload)
        except Exception:  # the client is gone; nothing left to tell it
            self.log.debug("Failed to send error message.")


def freeze_loaded_objects() -> None:
    """Keep what the app loaded at start out of the garbage collector's full passes.

    A web process holds some 300,000 objects once the app is built (the router's weights, the SDKs'
    and pydantic's types, SQLAlchemy's tables) that live as long as it does. A full collection walked
    all of them: 0.8-1 s in a burst, with every greenlet of the process (``/v1/route``, ``/healthz``)
    stopped meanwhile. Frozen, they are never walked again; what requests allocate is collected as before.
    """
    gc.collect()  # the start's own garbage is freed, not frozen
    gc.freeze()


class TiergateGeventWorker(JsonErrorsMixin, GeventWorker):
    """gunicorn's gevent worker (a greenlet, not a thread, per waiting request) with JSON error answers."""

    def load_wsgi(self):
        super().load_wsgi()
        freeze_loaded_objects()

    def patch(self):
        if not monkey.is_module_patched("ssl"):
            self.log.error("gevent patched the standard library after ssl was imported: HTTPS through requests "
                           "will fail in this worker. Start gunicorn with 'python -m gevent.monkey --module "
                           "gunicorn ...'")
        super().patch()


class TiergateGthreadWorker(JsonErrorsMixin, ThreadWorker):
    """gunicorn's gthread worker with JSON error answers."""

    def load_wsgi(self):
        super().load_wsgi()
        freeze_loaded_objects()
