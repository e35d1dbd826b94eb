"""Signed callbacks to the waiting workflow (an n8n Wait-node resume URL, a Make or Zapier hook).

Each callback is a row in the outbox (``app.execution.outbox``), written with the answer it carries and
delivered with retries and backoff, so a receiver that is down for a while still gets the result and a
Redis restart loses none. Signing::

    X-Tiergate-Timestamp: <unix seconds>
    X-Tiergate-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with TIERGATE_CALLBACK_SECRET>

A receiver recomputes the HMAC over the raw body bytes, compares in constant time and rejects old
timestamps. Delivery is at least once (a try whose answer is lost, say to a crash or a timeout, is
sent again), so every try of one callback carries the same ``X-Tiergate-Delivery-Id`` (the outbox row):
a receiver that must act once de-duplicates by it. The callback URL is opaque: it is stored and called exactly as given, query string
included (n8n's resume URLs carry their token there).

Targets on private, loopback, link-local or otherwise non-public addresses are refused unless the
host is in ``TIERGATE_CALLBACK_ALLOW_HOSTS`` (a self-hosted n8n on the LAN): a caller must not be able
to make Tiergate probe the operator's internal network. The check runs when the request arrives and
again before each delivery, because DNS can change in between.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
import time
from typing import Any
from urllib.parse import urlsplit

from app.errors import InvalidField, TiergateError

TIMESTAMP_HEADER = "X-Tiergate-Timestamp"
SIGNATURE_HEADER = "X-Tiergate-Signature"
DELIVERY_HEADER = "X-Tiergate-Delivery-Id"
DELIVERY_TIMEOUT_SECONDS = 10.0


class CallbackRefused(InvalidField):
    """The callback URL points somewhere Tiergate will not call."""

    code = "callback_refused"


def body_bytes(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` over ``"<timestamp>.<body>"``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signed_headers(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {"Content-Type": "application/json", TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: sign(secret, stamp, body)}


def check_target(url: str, allowed_hosts: set[str]) -> None:
    """Refuse URLs that are not http(s) or resolve to a non-public address (unless the host is allowed)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CallbackRefused("callback_url must be an absolute http(s) URL", "callback_url")
    host = parts.hostname.lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if host in allowed_hosts or f"{host}:{port}" in allowed_hosts:
        return
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)}
    except socket.gaierror:
        raise CallbackRefused(f"callback_url host {host!r} does not resolve", "callback_url") from None
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if not _public(ip):
            raise CallbackRefused(
                f"callback_url host {host!r} resolves to the non-public address {ip}; add the host to "
                "TIERGATE_CALLBACK_ALLOW_HOSTS to allow it (e.g. a self-hosted n8n on your network)", "callback_url")


# IPv6 addresses that carry an IPv4 address a gateway on the way may reach: NAT64's well-known prefix
# (RFC 6052) and 6to4 (RFC 3056, ``sixtofour``). Python's ``is_global`` judges only the IPv6 address, so
# 64:ff9b::7f00:1 (127.0.0.1 through NAT64) passed as public. NAT64's local-use prefix (RFC 8215)
# is a site's own translator: never public.
NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")
NAT64_LOCAL_USE = ipaddress.ip_network("64:ff9b:1::/48")


def _public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """A global unicast address whose embedded IPv4 address, if any, is global too."""
    if not ip.is_global or ip.is_multicast:
        return False
    if ip.version == 6:
        if ip in NAT64_LOCAL_USE:
            return False
        embedded = ip.sixtofour or ip.ipv4_mapped
        if embedded is None and ip in NAT64_WELL_KNOWN:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return _public(embedded)
    return True


def enqueue_callback(store, settings, url: str, payload: dict[str, Any], *, session=None,
                     request_id: str | None = None, review_id: str | None = None) -> int:
    """Put one signed callback in the outbox; it is delivered in the background once committed.

    With ``session`` the callback joins the caller's transaction (a review decision and its callback
    commit together, or neither does); without, it is committed at once.
    """
    from sqlalchemy import event

    from app.execution import outbox

    check_target(url, settings.allowed_callback_hosts)
    if session is not None:
        delivery_id = outbox.add(session, url, payload, request_id=request_id, review_id=review_id).id
        event.listen(session, "after_commit", lambda _s: outbox.kick(store, settings, [delivery_id]), once=True)
        return delivery_id
    with store.session() as own:
        delivery_id = outbox.add(own, url, payload, request_id=request_id, review_id=review_id).id
    outbox.kick(store, settings, [delivery_id])
    return delivery_id


def deliver(url: str, payload: dict[str, Any], secret: str, allowed_hosts: set[str], delivery_id: int) -> int:
    """POST the signed payload once, with its delivery id; raises on refusal, network failure or a non-2xx
    answer (the outbox retries)."""
    import requests

    check_target(url, allowed_hosts)
    body = body_bytes(payload)
    headers = {**signed_headers(secret, body), DELIVERY_HEADER: str(delivery_id)}
    response = requests.post(url, data=body, headers=headers, timeout=DELIVERY_TIMEOUT_SECONDS,
                             allow_redirects=False)
    if not 200 <= response.status_code < 300:
        raise CallbackDeliveryError(f"callback to {urlsplit(url).hostname} answered HTTP {response.status_code}")
    return response.status_code


class CallbackDeliveryError(TiergateError):
    """The receiver did not accept the callback; the outbox tries again later."""
