"""URLs in logs, with their secrets cut out.

Callback URLs carry credentials: an n8n resume URL signs itself in its query
(``/webhook-waiting/123?signature=...``), Make and Zapier hook URLs are a token in the path
(``https://hook.eu1.make.com/<token>``), and any URL may carry ``user:password@``. A log line keeps
enough to say where a call went — scheme, host, port and the first path segment — and nothing else.

``install_log_redaction()`` makes every log record of the process pass through ``redact_text``:
it wraps the log record factory rather than a handler's filters, because gunicorn, RQ and urllib3
each add their own handlers, some after the app is built.
"""
from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

__all__ = ["redact_url", "redact_text", "install_log_redaction"]

CUT = "…"
# A path segment that looks like a credential rather than a name: long and with a digit, or very long
# (Make's 32-character hook tokens, Zapier's catch ids, signed ids). Words like "webhook-waiting" stay.
TOKEN_MIN_CHARS_WITH_DIGIT = 12
TOKEN_MIN_CHARS = 24
URL_IN_TEXT = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>]+")
# A bare path with a query or fragment, as in request lines ("POST /hook/1?signature=abc HTTP/1.1").
PATH_IN_TEXT = re.compile(r"(?<![\w/:.])(/[^\s\"'<>?#]*)[?#][^\s\"'<>]*")
TRAILING_PUNCTUATION = ".,;:!)]}"
PATH_AND_QUERY = re.compile(r"([^?#]*)([?#].*)?", re.DOTALL)


def _token_like(segment: str) -> bool:
    if len(segment) >= TOKEN_MIN_CHARS:
        return True
    return len(segment) >= TOKEN_MIN_CHARS_WITH_DIGIT and any(char.isdigit() for char in segment)


def redact_url(url: str) -> str:
    """``scheme://host[:port]/first-segment`` of ``url``, with "…" where anything was cut.

    Drops credentials, the query string, the fragment, every path segment after the first, and the
    first one too when it looks like a token.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:  # an unparseable port or IPv6 literal: keep nothing that could be a secret
        return CUT
    if not parts.scheme or not parts.hostname:
        return _redact_path(url)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    kept = f"{parts.scheme}://{host}{f':{port}' if port is not None else ''}"
    segments = [segment for segment in parts.path.split("/") if segment]
    if segments:
        first = segments[0]
        kept += "/" + (CUT if _token_like(first) else first)
        if (len(segments) > 1 or parts.query or parts.fragment) and not kept.endswith(CUT):
            kept += "/" + CUT
    elif parts.query or parts.fragment:
        kept += "/" + CUT
    return kept


def _redact_path(path: str) -> str:
    """A path without its query and fragment, token-like segments cut (request lines of our own API stay readable)."""
    base, query = PATH_AND_QUERY.match(path).groups()
    segments = [CUT if _token_like(segment) else segment for segment in base.split("/")]
    return "/".join(segments) + (f"?{CUT}" if query is not None else "")


def redact_text(text: str) -> str:
    """``text`` with every URL passed through ``redact_url`` and every bare path's query cut."""
    if "://" not in text and "?" not in text and "#" not in text:
        return text
    text = URL_IN_TEXT.sub(lambda match: _keeping_punctuation(redact_url, match.group(0)), text)
    return PATH_IN_TEXT.sub(lambda match: _keeping_punctuation(_redact_path, match.group(0)), text)


def _keeping_punctuation(redact, found: str) -> str:
    """``redact(found)`` with the sentence's punctuation put back: "(see http://h/x?k=1)." keeps its ")."."""
    end = len(found.rstrip(TRAILING_PUNCTUATION))
    return redact(found[:end]) + found[end:]


class RedactUrlsFilter(logging.Filter):
    """Rewrites a record's message (and its formatted traceback) with ``redact_text``; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: let the handler report it as logging always does
            return True
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
        return True


_installed = False


def install_log_redaction() -> None:
    """Pass every log record of this process through ``RedactUrlsFilter`` (idempotent)."""
    global _installed
    if _installed:
        return
    make_record, redact = logging.getLogRecordFactory(), RedactUrlsFilter()

    def _redacted_record(*args, **kwargs) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        redact.filter(record)
        return record

    logging.setLogRecordFactory(_redacted_record)
    _installed = True
