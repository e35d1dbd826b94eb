"""A 404 for an unknown API path that helps: it lists the served endpoints and spots a wrong Base URL.

Most "not found" answers a new user meets come from a Base URL with ``/v1`` doubled (an Anthropic
client given ``http://host:8000/v1``), missing (an OpenAI client given ``http://host:8000``) or with
another path (``http://host:8000/api/v1``). When the path becomes a served endpoint after dropping the
extra ``/v1``, adding the missing one or dropping the other prefix, the message says which, in the
error shape of the client's SDK (OpenAI or Anthropic, told by the path and headers; Tiergate's own
shape otherwise), so its exception shows the hint. Paths outside the API, and 404s raised by a served
endpoint, keep the plain answer.
"""
from __future__ import annotations

from flask import current_app, jsonify, request
from werkzeug.exceptions import MethodNotAllowed, NotFound as RouteNotFound
from werkzeug.routing import RequestRedirect

from app.api import bp
from app.errors import NotFound, error_response
from app.gateway import anthropic_format, openai_format

API_PREFIX = "/v1"
CODE = "unknown_url"  # in the SDKs' shapes; Tiergate's own shape keeps its contract code, not_found
OPENAI_PATHS = ("/chat/completions", "/responses", "/completions", "/embeddings", "/models")
HIDDEN_METHODS = frozenset({"HEAD", "OPTIONS"})


@bp.app_errorhandler(404)
def unknown_path(exc):
    path = request.path
    if request.url_rule is not None:  # a served endpoint said 404 (a missing review, job, ...)
        return error_response(404, "not_found", exc.description or "not found")
    fixed, why = suggestion(path, request.method)
    if fixed is None and not (path == API_PREFIX or path.startswith(API_PREFIX + "/")):
        return error_response(404, "not_found", exc.description or "not found")
    dialect = _dialect(path)
    message = _message(path, fixed, why, dialect)
    if dialect == "anthropic":
        _, body = anthropic_format.error_body(NotFound(message, None, code=CODE))
    elif dialect == "openai":
        _, body = openai_format.error_body(NotFound(message, None, code=CODE))
    else:
        body = NotFound(message, None).to_dict()
    response = jsonify({**body, "endpoints": served_endpoints()})
    response.status_code = 404
    return response


def suggestion(path: str, method: str) -> tuple[str | None, str | None]:
    """``(served path, why)`` when a Base URL fix makes ``path`` a served endpoint.

    ``why`` is ``doubled`` (``/v1/v1/...``), ``missing`` (``/chat/completions``) or ``prefix`` (a Base URL
    with some other path, e.g. ``/api/v1/chat/completions``: the served endpoint the path ends with).
    """
    if path.startswith(API_PREFIX + API_PREFIX + "/"):
        candidate, why = path, "doubled"
        while candidate.startswith(API_PREFIX + API_PREFIX + "/"):
            candidate = candidate[len(API_PREFIX):]
        if _served(candidate, method):
            return candidate, why
    elif not path.startswith(API_PREFIX + "/") and _served(API_PREFIX + path, method):
        return API_PREFIX + path, "missing"
    endings = [rule for rule in _static_api_paths() if path.endswith(rule[len(API_PREFIX):]) and path != rule]
    if endings:
        return max(endings, key=len), "prefix"
    return None, None


def served_endpoints() -> list[str]:
    """``"METHOD /v1/..."`` for every API route, sorted."""
    found = set()
    for rule in current_app.url_map.iter_rules():
        if rule.rule.startswith(API_PREFIX + "/"):
            for method in sorted((rule.methods or set()) - HIDDEN_METHODS):
                found.add(f"{method} {rule.rule}")
    return sorted(found, key=lambda item: (item.split(" ", 1)[1], item))


def _static_api_paths() -> set[str]:
    return {rule.rule for rule in current_app.url_map.iter_rules()
            if rule.rule.startswith(API_PREFIX + "/") and "<" not in rule.rule}


def _served(path: str, method: str) -> bool:
    adapter = current_app.url_map.bind("localhost")
    try:
        adapter.match(path, method=method)
    except (MethodNotAllowed, RequestRedirect):
        return True
    except RouteNotFound:
        return False
    return True


def _dialect(path: str) -> str:
    agent = request.headers.get("User-Agent", "")
    if "anthropic-version" in request.headers or "/messages" in path or agent.startswith("Anthropic"):
        return "anthropic"
    if agent.startswith("OpenAI") or path.endswith(OPENAI_PATHS):
        return "openai"
    return "tiergate"


def _message(path: str, fixed: str | None, why: str | None, dialect: str) -> str:
    base = request.host_url.rstrip("/")
    if why == "doubled":
        if dialect == "anthropic":
            advice = f"the Anthropic SDK adds /v1 itself, so its Base URL is {base} (without /v1)"
        else:
            advice = f"it should end in /v1 once ({base}{API_PREFIX})"
        return f"{path} is not served: /v1 appears twice. Did you mean {fixed}? Check your Base URL: {advice}."
    if why == "missing":
        if dialect == "anthropic":
            advice = f"the Anthropic SDK's Base URL is {base}"
        else:
            advice = f"an OpenAI-compatible client needs it to end in /v1 ({base}{API_PREFIX})"
        return f"{path} is not served: /v1 is missing. Did you mean {fixed}? Check your Base URL: {advice}."
    if why == "prefix":
        advice = (f"the Anthropic SDK's Base URL is {base}" if dialect == "anthropic"
                  else f"an OpenAI-compatible client's Base URL is {base}{API_PREFIX}")
        return f"{path} is not served. Did you mean {fixed}? Check your Base URL: {advice}."
    return (f"{path} is not a Tiergate endpoint; the served endpoints are listed in 'endpoints' "
            f"(OpenAI clients: Base URL {base}{API_PREFIX}; Anthropic clients: {base}).")
