"""The HTTP/1.1 transport under the Anthropic SDK in gevent processes: geventhttpclient's C parser.

The SDK sends through an ``httpx2.Client``; its default transport (httpcore, h11) parses every answer in
Python and was the largest part of a provider call's CPU. ``GeventTransport`` is an ``httpx2`` transport
on geventhttpclient's connection pool and response parser instead, so the SDK's retries, headers,
timeouts and exceptions stay its own: failures are raised as the ``httpx2`` exceptions the SDK maps (a
refused connection as ``ConnectError``, so it still counts as not sent).

``exchange`` is one request on a pool, also used without ``httpx2`` by ``app.providers.messages_call``
(the Messages API's whole answers, which skip the SDK's per-call request building).

It sends requests whose body is known (the SDK's JSON posts) and reads each answer whole: streams keep
the SDK's default transport. Each request's timeout (the SDK's, per call) is the socket's for sending
and reading, and bounds the wait for a connection. Only for processes patched by gevent (``tiergate
up``'s web and worker processes), where every thread is a greenlet of one hub: geventhttpclient's pool
is not for real threads.
"""
from __future__ import annotations

import errno
import socket
import ssl
import urllib.request

import gevent
import httpx2
from geventhttpclient.connectionpool import ConnectionPool, SSLConnectionPool
from geventhttpclient.response import HTTPParseError, HTTPSocketPoolResponse

POOL_SIZE = 1000  # connections per host: sync calls in flight share them (the SDK's default limit)
# Errors raised before anything was sent: the request never left, so nothing can have been billed.
NOT_CONNECTED = (ConnectionRefusedError, socket.gaierror, ssl.SSLCertVerificationError)
NOT_CONNECTED_ERRNOS = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL}


def gevent_http_client(timeout: float) -> httpx2.Client | None:
    """An ``httpx2.Client`` on ``GeventTransport`` for the SDK, or None where the default is the right
    one: a process not patched by gevent, or one that must go through a proxy from the environment."""
    from gevent import monkey

    if not monkey.is_module_patched("socket") or urllib.request.getproxies():
        return None
    return client_on_gevent(timeout)


def client_on_gevent(timeout: float) -> httpx2.Client:
    """The ``httpx2.Client`` on ``GeventTransport``, following redirects as the SDK's own client does."""
    return httpx2.Client(transport=GeventTransport(timeout), timeout=timeout, follow_redirects=True)


class GeventTransport(httpx2.BaseTransport):
    """``httpx2``'s transport interface on one geventhttpclient connection pool per host."""

    def __init__(self, timeout: float):
        self.timeout = timeout
        self._pools: dict[tuple[str, str, int | None], ConnectionPool] = {}

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        timeout = (request.extensions.get("timeout") or {}).get("read") or self.timeout
        message = _request_head(request) + request.read()  # read: a redirect carries the body as a stream
        response, body = exchange(self.pool(request.url), message, request.method, timeout, request)
        return httpx2.Response(response.status_code, headers=list(response.headers), content=body,
                               extensions={"http_version": b"HTTP/1.1",
                                           "reason_phrase": (response.status_message or "").encode("latin-1")})

    def pool(self, url: httpx2.URL) -> ConnectionPool:
        """The connection pool for ``url``'s host (made on first use)."""
        key = (url.scheme, url.host, url.port)
        pool = self._pools.get(key)
        if pool is None:
            https = url.scheme == "https"
            port = url.port or (443 if https else 80)
            kind = SSLConnectionPool if https else ConnectionPool
            pool = self._pools[key] = kind(url.host, port, url.host, port, size=POOL_SIZE,
                                           connection_timeout=self.timeout, network_timeout=self.timeout)
        return pool

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()


def exchange(pool: ConnectionPool, message: bytes, method: str, timeout: float,
             request: httpx2.Request | None = None) -> tuple[HTTPSocketPoolResponse, bytes]:
    """Send ``message`` (a whole HTTP/1.1 request) on a connection of ``pool`` and read the whole answer:
    the parsed response (status, headers; its connection already back in the pool) and its body as sent.

    ``timeout`` bounds the wait for a connection and each send and read. Failures are raised as the
    ``httpx2`` exceptions the SDK maps (about ``request`` when given): a connection that was never made
    as ``ConnectError`` (nothing was sent), a cut or broken answer as ``ReadError`` or
    ``RemoteProtocolError``, a wait that ran out as ``ReadTimeout``.
    """
    try:
        with gevent.Timeout(timeout, TimeoutError(f"no connection within {timeout:g} s")):
            sock = pool.get_socket()  # a pooled connection, or a new one; released on failure
        try:
            sock.settimeout(timeout)
            sock.sendall(message)
        except BaseException:
            pool.release_socket(sock)
            raise
        response = HTTPSocketPoolResponse(sock, pool, method=method)  # released on failure
        try:
            body = response.read()
        finally:
            response.release()  # back to the pool when the answer was whole and keeps the connection
    except TimeoutError as exc:  # connecting, sending or waiting for the answer
        raise httpx2.ReadTimeout(str(exc) or "timed out", request=request) from exc
    except HTTPParseError as exc:  # closed before or within the answer, or an answer that is not HTTP
        raise httpx2.RemoteProtocolError(str(exc) or "server disconnected", request=request) from exc
    except OSError as exc:
        if isinstance(exc, NOT_CONNECTED) or exc.errno in NOT_CONNECTED_ERRNOS:
            raise httpx2.ConnectError(str(exc), request=request) from exc
        raise httpx2.ReadError(str(exc), request=request) from exc
    return response, body


def _request_head(request: httpx2.Request) -> bytes:
    """The request line and headers as sent (``httpx2`` has set Host and Content-Length)."""
    if "content-length" not in request.headers:
        raise httpx2.LocalProtocolError("GeventTransport sends bodies of known length only", request=request)
    lines = [b"%s %s HTTP/1.1" % (request.method.encode("ascii"), request.url.raw_path)]
    for name, value in request.headers.raw:
        if b"\r" in value or b"\n" in value or b"\r" in name or b"\n" in name or b":" in name:
            raise httpx2.LocalProtocolError(f"illegal header {name!r}", request=request)
        lines.append(name + b": " + value)
    return b"\r\n".join(lines) + b"\r\n\r\n"
