"""The drop-in endpoints: POST /v1/chat/completions and POST /v1/responses (OpenAI), POST /v1/messages and
POST /v1/messages/count_tokens (Anthropic), GET /v1/models.

They need a key with the ``gateway`` scope (or ``admin``): a drop-in client may name any model of the
policy and so skip routing, which a key meant for ``/v1/fallback`` should not allow by itself. Errors are
answered in the format of the API the client speaks, never as a bare 500, so the SDKs raise their own
error classes with our message. Tiergate's own request fields come as headers: ``X-Tiergate-Task-Type``,
``X-Tiergate-Risk``, ``X-Tiergate-External``, ``X-Tiergate-Mode`` (docs/gateway.md). Every model call goes
through one path: ``store_call``, then ``start_live`` or ``run_gated``.
"""
from __future__ import annotations

from flask import Blueprint, Response, current_app, g, jsonify, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from app.api.auth import require_scope
from app.api.body import parse_json
from app.errors import ApiError, BadRequest, validation_field
from app.execution import idempotency

from app.gateway import anthropic_format, conversations, models, openai_format, responses_format, streaming
from app.gateway.calls import RouteHints, StoredCall, run_gated, store_call
from app.gateway.chat import ChatAnswer, ChatRequest
from app.gateway.live import LiveStream, start_live, wants_live
from app.gateway.token_count import input_tokens
from app.web.context import arrival, current_policy, db, runtime
from app.web.errors import unavailable
from app.web.openapi import document

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
                       live.headers, live.close)
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
                       live.headers, live.close)
    answer = run_gated(runtime(), call, arrival())
    answer.id = f"msg_{answer.id}"
    if chat.stream:
        events = streaming.answer_events(answer)
        return _stream(streaming.anthropic_sse(events, answer.id, answer.model, answer.usage), answer.headers)
    return _json(anthropic_format.message(answer), answer)


@bp.post("/responses")
@require_scope(SCOPE)
def responses():
    body = _json_body()
    chat = responses_format.parse_request(body)
    rt = runtime()
    if body.get("previous_response_id"):
        chat = conversations.continue_from(rt, chat, body["previous_response_id"], g.api_key.id, current_policy())
    echoed = responses_format.echo(body)
    call, live = _start(chat)
    if live is not None:
        return _stream(responses_format.sse(live.events(), call.request_id, live.model_call.model, echoed),
                       live.headers, live.close)
    answer = run_gated(rt, call, arrival())
    if chat.stream:
        events = streaming.answer_events(answer)
        return _stream(responses_format.sse(events, answer.id, answer.model, echoed), answer.headers)
    return _json(responses_format.from_answer(answer.id, answer, echoed), answer)


@bp.post("/messages/count_tokens")
@require_scope(SCOPE)
def count_tokens():
    body = _json_body()
    # Validated as a Messages API call; a count_tokens body has no max_tokens, so a placeholder stands in.
    chat = anthropic_format.parse_request({**body, "max_tokens": body.get("max_tokens", 1)})
    models.resolve(chat.model, current_policy())  # an unknown model is a 404 naming the ones that exist
    return jsonify({"input_tokens": input_tokens(chat)})


def _start(chat: ChatRequest) -> tuple[StoredCall, LiveStream | None]:
    """Store the call through the one intake; open its live stream when the policy streams it live.
    Refusals (a spent budget: 402) happen here, before a stream's status line goes out."""
    rt = runtime()
    call = store_call(rt, db(), current_policy(), chat, g.api_key.id, _hints(),
                      request.headers.get(idempotency.HEADER))
    live = start_live(rt, call, arrival()) if call.replay_of is None and wants_live(call) else None
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
    """The JSON body, read like every other endpoint's: a body nested too deeply is a 400, not a crash."""
    body = parse_json(request.get_data(cache=True))
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", None)
    return body


def _hints() -> RouteHints:
    headers = request.headers
    external = headers.get("X-Tiergate-External", "").strip().lower() in ("1", "true", "yes")
    return RouteHints(task_type=headers.get("X-Tiergate-Task-Type", "").strip() or None,
                      risk=headers.get("X-Tiergate-Risk", "low").strip().lower() or "low", external=external,
                      # No header: /v1/route's default (learned for free text, rules once a task type is named).
                      mode=headers.get("X-Tiergate-Mode", "").strip().lower() or None)


def _json(body: dict, answer: ChatAnswer) -> Response:
    response = jsonify(body)
    response.headers.update(answer.headers)
    return response


def _stream(events, headers: dict[str, str], on_close=None) -> Response:
    """An event stream; ``on_close`` runs when the server closes the response, read or not."""
    response = Response(events, mimetype=streaming.MEDIA_TYPE)
    response.headers.update({**headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    if on_close is not None:
        response.call_on_close(on_close)
    return response


# -- errors in the client's format ------------------------------------------------------------------
def _speaks_anthropic() -> bool:
    return MESSAGES_PATH in request.path or "anthropic-version" in request.headers


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
    refused = unavailable(exc, current_app.logger, current_app.config["TIERGATE"].data_dir)  # 507 / 503
    if refused is not None:
        return _error(refused)
    current_app.logger.exception("unhandled error in the gateway")
    return _error(ApiError("internal error; the call was not completed", None, code="internal", status=500))


# Errors every call may meet besides its own: a spent refuse budget, the store or Redis away, a full disk.
UNAVAILABLE = {"402": "a refuse budget is spent", "503": "the database or Redis is unreachable (Retry-After: 5)",
               "507": "the disk holding the data directory is full (Retry-After: 5)"}
OPENAI, ANTHROPIC = "OpenAIError", "AnthropicError"
document("/v1/chat/completions", "post", "OpenAI-compatible chat completions through routing and the cascade "
         "(tools, streaming, JSON output)", scope=SCOPE, error_schema=OPENAI,
         request_schema=("ChatCompletionsRequest", openai_format.REQUEST_SCHEMA),
         responses={"200": "a chat.completion, or a text/event-stream of chat.completion.chunk",
                    "400": "invalid request (OpenAI error format)", "404": "unknown model",
                    "409": "Idempotency-Key reused", "502": "no tier could answer", **UNAVAILABLE})
document("/v1/messages", "post", "Anthropic-compatible Messages API through routing and the cascade", scope=SCOPE,
         error_schema=ANTHROPIC, request_schema=("MessagesRequest", anthropic_format.REQUEST_SCHEMA),
         responses={"200": "a message, or a text/event-stream of Messages API events",
                    "400": "invalid request (Anthropic error format)", "404": "unknown model",
                    "409": "Idempotency-Key reused", "502": "no tier could answer", **UNAVAILABLE})
document("/v1/responses", "post", "OpenAI Responses API through routing and the cascade (input items, function "
         "tools, previous_response_id from the ledger, streaming events, text.format json_schema)", scope=SCOPE,
         error_schema=OPENAI, request_schema=("ResponsesRequest", responses_format.REQUEST_SCHEMA),
         responses={"200": "a response, or a text/event-stream of Responses API events",
                    "400": "invalid request (OpenAI error format)", "404": "unknown model or previous response",
                    "409": "Idempotency-Key reused", "502": "no tier could answer", **UNAVAILABLE})
document("/v1/messages/count_tokens", "post", "Anthropic-compatible token count of a Messages API body (estimated, "
         "no model call)", scope=SCOPE, error_schema=ANTHROPIC,
         request_schema=("CountTokensRequest", anthropic_format.COUNT_TOKENS_SCHEMA),
         responses={"200": "{\"input_tokens\": N}", "400": "invalid request (Anthropic error format)",
                    "404": "unknown model", "503": UNAVAILABLE["503"], "507": UNAVAILABLE["507"]})
document("/v1/models", "get", "The model names a drop-in client may use", scope=SCOPE,
         error_schema=(OPENAI, ANTHROPIC))  # in the format of the client (an anthropic-version header)
