"""A whole Messages API answer in gevent processes, sent without the SDK's per-call request building.

Through the SDK's ``post`` every call built a ``FinalRequestOptions``, then per attempt an
``httpx2.Request`` (five header layers merged, the URL joined, the x-stainless headers) and went through
``httpx2.Client.send``'s auth, redirect and hook layers: together ~11% of the server's busy samples under
a chat load (py-spy, ``bench/profile_web.py --endpoint chat``), against ~6% for the exchange on the wire
itself; a provider call's client CPU went from ~0.5 to ~0.2 ms (``bench/provider_call.py``).
Here the request's head is the SDK's own, built once: each attempt fills in the attempt's
``x-stainless-*`` values and the length, and writes head and body on the connection pool of
``app.providers.transport``.

The policy stays the SDK's, called on its client: which answers are retried (``x-should-retry``, then
408/409/429/5xx), how long to wait (``retry-after-ms``, ``retry-after`` in seconds or as a date, else
exponential backoff with jitter), and the exceptions raised after the last attempt (``APIStatusError``
and its subclasses, ``APITimeoutError``, ``APIConnectionError`` caused by the transport's ``httpx2``
error). Those need ``httpx2`` objects, which are built only for an attempt that failed. So
``AnthropicProvider`` maps failures to ``ProviderError`` exactly as on the SDK's path. (SDK middleware
could skip the send but not the options and header merging around it, so it saved less.) These are the
client's underscore methods (``_build_request`` once, ``_should_retry``, ``_sleep_for_retry``, the
``_make_*_error`` builders): ``tests/test_messages_call.py`` runs each of them on both paths, so an SDK
release that changes one fails there.

Only for a client that needs nothing per request (no ``custom_auth``, middleware or idempotency
header): ``MessagesCall.over`` says None otherwise. A redirect (the API sends none; a proxy might) is
left to the SDK, which follows it.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import httpx2

from app.providers.transport import GeventTransport, exchange

# The headers the SDK gives each attempt its own value, as %-format fields of the head.
PER_ATTEMPT = {b"x-stainless-timeout": b"%(timeout)s", b"x-stainless-read-timeout": b"%(timeout)s",
               b"x-stainless-retry-count": b"%(retries)d", b"content-length": b"%(length)d"}
REDIRECTS = (301, 302, 303, 307, 308)  # with a Location: what httpx2 follows


class Answer(NamedTuple):
    """A 2xx answer: its status, content type and (decoded) body."""

    status: int
    content_type: str
    content: bytes


class MessagesCall:
    """POSTs to one path of an SDK client's API on its ``GeventTransport``, with the client's retries."""

    def __init__(self, client: Any, transport: GeventTransport, path: str):
        from anthropic._models import FinalRequestOptions

        self._client, self._path = client, path
        self._options = FinalRequestOptions  # for the SDK's wait between attempts (only when there is one)
        # The request the SDK would build for this path, headers in its order (a non-empty body, so
        # Content-Length comes last as with a real one); its per-attempt values become fields of ``_head``.
        prototype = client._build_request(FinalRequestOptions.construct(method="post", url=path, content=b"{}",
                                                                        timeout=1.0))
        client._prepare_request(prototype)
        self._url, self._headers = prototype.url, prototype.headers.raw
        self._pool = transport.pool(prototype.url)
        lines = [b"POST %s HTTP/1.1" % prototype.url.raw_path.replace(b"%", b"%%")]
        for name, value in self._headers:
            field = PER_ATTEMPT.get(name.lower())
            lines.append(name + b": " + (field or value.replace(b"%", b"%%")))
        self._head = b"\r\n".join(lines) + b"\r\n\r\n"

    @classmethod
    def over(cls, client: Any, path: str) -> "MessagesCall | None":
        """The call for ``client`` when it sends through ``GeventTransport`` and builds nothing per
        request; else None (the SDK's ``post`` is the way)."""
        transport = getattr(client._client, "_transport", None)
        if (not isinstance(transport, GeventTransport) or client.custom_auth is not None or client.middleware
                or client._idempotency_header or any(client._client.event_hooks.values())):
            return None
        return cls(client, transport, path)

    def post(self, body: bytes, timeout: float, retries: int) -> Answer:
        """``body`` (JSON) posted with up to ``retries`` retries, each attempt waiting ``timeout``
        seconds at most; the SDK's exception for the last failure."""
        seconds = str(timeout).encode()  # as the SDK writes x-stainless-timeout: str() of the float
        for taken in range(retries + 1):
            message = self._head % {b"timeout": seconds, b"retries": taken, b"length": len(body)} + body
            try:
                response, content = exchange(self._pool, message, "POST", timeout)
                if 200 <= response.status_code < 300 and not _header(response, "content-encoding"):
                    return Answer(response.status_code, _header(response, "content-type"), content)
                redirected = response.status_code in REDIRECTS and _header(response, "location")
                # Decoded (a body that does not decode is a failed attempt), as on the SDK's path.
                failed = None if redirected else httpx2.Response(
                    response.status_code, headers=list(response.headers), content=content,
                    request=self._request(body, timeout, taken))
            except httpx2.TimeoutException as exc:
                error = self._client._make_timeout_error(self._request(body, timeout, taken), exc)
                self._retry_or_raise(error, exc, taken, retries, timeout)
                continue
            except Exception as exc:  # as the SDK: anything else in the attempt is the connection's failure
                error = self._client._make_connection_error(self._request(body, timeout, taken), exc)
                self._retry_or_raise(error, exc, taken, retries, timeout)
                continue
            if failed is None:
                return self._through_the_sdk(body, timeout, retries)
            if failed.is_success:
                return Answer(failed.status_code, failed.headers.get("content-type", ""), failed.content)
            if taken < retries and self._client._should_retry(failed):
                self._wait(taken, retries, timeout, failed)
                continue
            raise self._client._make_status_error_from_response(failed) from None
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _retry_or_raise(self, error: Exception, cause: Exception, taken: int, retries: int, timeout: float) -> None:
        """After an attempt that got no answer: the SDK's error when it was the last, else the wait."""
        if taken >= retries:
            raise error from cause
        self._wait(taken, retries, timeout, None)

    def _wait(self, taken: int, retries: int, timeout: float, response: httpx2.Response | None) -> None:
        """The SDK's wait before the next attempt: ``retry-after-ms``/``retry-after`` when the answer
        gave one, else its backoff with jitter (and its log line)."""
        options = self._options.construct(method="post", url=self._path, max_retries=retries, timeout=timeout)
        self._client._sleep_for_retry(retries_taken=taken, max_retries=retries, options=options, response=response)

    def _request(self, body: bytes, timeout: float, taken: int) -> httpx2.Request:
        """The attempt as an ``httpx2.Request``, for the SDK's errors (built only for a failed attempt)."""
        values = {b"x-stainless-timeout": str(timeout).encode(), b"x-stainless-read-timeout": str(timeout).encode(),
                  b"x-stainless-retry-count": b"%d" % taken, b"content-length": b"%d" % len(body)}
        headers = [(name, values.get(name.lower(), value)) for name, value in self._headers]
        # The timeout as the SDK's request carries it: the SDK's timeout error names it.
        phases = {phase: timeout for phase in ("connect", "read", "write", "pool")}
        return httpx2.Request("POST", self._url, headers=headers, content=body, extensions={"timeout": phases})

    def _through_the_sdk(self, body: bytes, timeout: float, retries: int) -> Answer:
        """The whole call again through the SDK's ``post``, which follows a redirect."""
        raw = self._client.post(self._path, cast_to=httpx2.Response, content=body,
                                options={"timeout": timeout, "max_retries": retries})
        return Answer(raw.status_code, raw.headers.get("content-type", ""), raw.content)


def _header(response: Any, name: str) -> str:
    """A header of geventhttpclient's response as ``httpx2`` reads it: repeated ones joined."""
    value = response.get(name) or ""
    return value if isinstance(value, str) else ", ".join(value)
