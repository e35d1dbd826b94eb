"""The drop-in endpoints: POST /v1/chat/completions (OpenAI), POST /v1/messages (Anthropic), GET /v1/models.

They need a key with the ``gateway`` scope (or ``admin``): a drop-in client may name any model of the
policy and so skip routing, which a key meant for ``/v1/fallback`` should not allow by itself. Errors are
answered in the format of the API the client speaks, never as a bare 500, so the SDKs raise their own
error classes with our message. Tiergate's own request fields come as headers: ``X-Tiergate-Task-Type``,
``X-Tiergate-Risk``, ``X-Tiergate-External``, ``X-Tiergate-Mode``.
"""
from __future__ import annotations

from flask import Blueprint, Response, current_app, g, jsonify, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from app.api.auth import require_scope
from app.errors import ApiError, BadRequest, validation_field
from app.gateway import anthropic_format, models, openai_format, streaming
from app.execution import idempotency
from app.gateway.calls import RouteHints, StoredCall, run_gated, store_call
from app.gateway.live import LiveStream, start_live, wants_live
from app.gateway.chat import ChatAnswer, ChatRequest
from app.web.openapi import document
from app.web.context import arrival, current_policy, db, runtime

SCOPE = "gateway"
# Errors an SDK's automatic retry would only repeat or pay for twice: a spent budget, an Idempotency-Key
# conflict, an answer still being written. Both official SDKs honour ``x-should-retry: false``.
SHOULD_RETRY = "x-should-retry"
NOT_RETRIED = frozenset({402, 409, 504})
MESSAGES_PATH = "/messages"

bp = Blueprint("gateway", __name__)


@bp.post("/chat/completions")
@require_scope(SCOPE)
def chat_completions():
    chat = openai_format.parse_request(_json_body())
    call, live = _start(chat)
    if live is not None:
        model = live.model_call.model
        return _stream(streaming.openai_sse(live.events(), f"chatcmpl-{call.request_id}", model, chat.include_usage),
                       live.headers)
    answer = run_gated(runtime(), call, arrival())
    answer.id = f"chatcmpl-{answer.id}"
    if chat.stream:
        events = streaming.answer_events(answer)
        return _stream(streaming.openai_sse(events, answer.id, answer.model, chat.include_usage), answer.headers)
    return _json(openai_format.completion(answer), answer)


@bp.post("/messages")
@require_scope(SCOPE)
def messages():
    chat = anthropic_format.parse_request(_json_body())
    call, live = _start(chat)
    if live is not None:
        return _stream(streaming.anthropic_sse(live.events(), f"msg_{call.request_id}", live.model_call.model),
                       live.headers)
    answer = run_gated(runtime(), call, arrival())
    answer.id = f"msg_{answer.id}"
    if chat.stream:
        events = streaming.answer_events(answer)
        return _stream(streaming.anthropic_sse(events, answer.id, answer.model, answer.usage), answer.headers)
    return _json(anthropic_format.message(answer), answer)


def _start(chat: ChatRequest) -> tuple[StoredCall, LiveStream | None]:
    """Store the call through the one intake; open its live stream when the policy streams it live.
    Refusals (a spent budget: 402) happen here, before a stream's status line goes out."""
    rt = runtime()
    call = store_call(rt, db(), current_policy(), chat, g.api_key.id, _hints(),
                      request.headers.get(idempotency.HEADER))
    live = start_live(rt, call) if call.replay_of is None and wants_live(call) else None
    return call, live


@bp.get("/models")
@require_scope(SCOPE)
def list_models():
    return jsonify(models.listing(current_policy()))


@bp.get("/models/<path:name>")
@require_scope(SCOPE)
def get_model(name: str):
    listing = models.listing(current_policy())
    found = next((item for item in listing["data"] if item["id"] == name), None)
    if found is None:
        models.resolve(name, current_policy())  # raises model_not_found with the names that exist
    return jsonify(found)


def _json_body() -> dict:
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", None)
    return body


def _hints() -> RouteHints:
    headers = request.headers
    external = headers.get("X-Tiergate-External", "").strip().lower() in ("1", "true", "yes")
    return RouteHints(task_type=headers.get("X-Tiergate-Task-Type", "").strip() or None,
                      risk=headers.get("X-Tiergate-Risk", "low").strip().lower() or "low", external=external,
                      mode=headers.get("X-Tiergate-Mode", "rules").strip().lower() or "rules")


def _json(body: dict, answer: ChatAnswer) -> Response:
    response = jsonify(body)
    response.headers.update(answer.headers)
    return response


def _stream(events, headers: dict[str, str]) -> Response:
    response = Response(events, mimetype=streaming.MEDIA_TYPE)
    response.headers.update({**headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    return response


# -- errors in the client's format ------------------------------------------------------------------
def _speaks_anthropic() -> bool:
    return request.path.endswith(MESSAGES_PATH) or "anthropic-version" in request.headers


def _error(error: ApiError) -> Response:
    status, body = (anthropic_format if _speaks_anthropic() else openai_format).error_body(error)
    response = jsonify(body)
    response.status_code = status
    response.headers.update(error.headers)
    if status in NOT_RETRIED:  # the official SDKs retry 409 and 5xx unless told not to
        response.headers[SHOULD_RETRY] = "false"
    return response


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    return _error(exc)


@bp.errorhandler(ValidationError)
def _validation_error(exc: ValidationError):
    first = exc.errors()[0]
    field = validation_field(first)
    return _error(BadRequest(f"{field}: {first['msg']}" if field else first["msg"], field))


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    return _error(ApiError(exc.description or exc.name, None, code="http_error", status=exc.code or 500))


@bp.errorhandler(Exception)
def _unexpected(exc: Exception):
    current_app.logger.exception("unhandled error in the gateway")
    return _error(ApiError("internal error; the call was not completed", None, code="internal", status=500))


document("/v1/chat/completions", "post", "OpenAI-compatible chat completions through routing and the cascade "
         "(tools, streaming, JSON output)", scope=SCOPE,
         responses={"200": "a chat.completion, or a text/event-stream of chat.completion.chunk",
                    "400": "invalid request (OpenAI error format)", "404": "unknown model",
                    "402": "a refuse budget is spent (OpenAI error format)", "409": "Idempotency-Key reused",
                    "502": "no tier could answer"})
document("/v1/messages", "post", "Anthropic-compatible Messages API through routing and the cascade", scope=SCOPE,
         responses={"200": "a message, or a text/event-stream of Messages API events",
                    "400": "invalid request (Anthropic error format)", "404": "unknown model",
                    "402": "a refuse budget is spent (Anthropic error format)", "409": "Idempotency-Key reused",
                    "502": "no tier could answer"})
document("/v1/models", "get", "The model names a drop-in client may use", scope=SCOPE)
