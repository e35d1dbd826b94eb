"""``previous_response_id``: continue a conversation from the ledger instead of a server-side thread store.

Every drop-in call is already stored with its whole conversation (``payload["messages"]``) and its
answer (``result``), so an earlier response is enough to rebuild the turns: the earlier call's
messages, then the answer exactly as that client saw it (a held draft stays the held notice), then
the new input. As in OpenAI's API, the earlier call's ``instructions`` are not carried over. Only the
key that made the earlier call may continue it; another key gets the same 404 as an unknown id.
"""
from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select

from app.execution import lifecycle
from app.errors import Conflict, NotFound
from app.gateway import responses_format
from app.gateway.calls import KIND, UpstreamFailed, _answer as client_answer
from app.gateway.chat import ChatRequest
from app.policy.schema import Policy
from app.execution.runtime import Runtime
from app.store import Request

FIELD = "previous_response_id"


def continue_from(rt: Runtime, chat: ChatRequest, previous_id: str, api_key_id: int, policy: Policy) -> ChatRequest:
    """``chat`` with the earlier response's turns before its own; NotFound / Conflict name the field."""
    request_id = responses_format.request_id_of(previous_id)
    with rt.store.session() as session:
        row = session.execute(select(Request.kind, Request.api_key_id, Request.status, Request.payload,
                                     Request.result).where(Request.id == request_id)).one_or_none()
    if row is None or row.kind != KIND or row.api_key_id != api_key_id:
        raise NotFound(f"previous response {previous_id!r} was not found (it must come from a call with this key)",
                       FIELD, code="previous_response_not_found")
    if row.status not in lifecycle.TERMINAL or not row.result:
        raise Conflict(f"previous response {previous_id!r} has not finished yet; wait for it, then continue", FIELD)
    try:
        earlier = client_answer(request_id, row.result, policy)
    except UpstreamFailed:
        raise Conflict(f"previous response {previous_id!r} failed and has no answer to continue from", FIELD) from None
    messages = [dict(message) for message in row.payload.get("messages") or []]
    responses_format.append_turn(messages, "assistant", earlier.content)
    for message in chat.messages:
        responses_format.append_turn(messages, message["role"], message["content"])
    return replace(chat, messages=messages)
