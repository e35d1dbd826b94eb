"""Live streaming: the routed tier's tokens go to the client as the model writes them, without gates.

Used only where the policy asks for it (``gateway.stream: live``) and a gate could change nothing the
client has not seen yet: no JSON format was requested and the routing decision holds nothing for
review. Such a call is one model call on the routed tier, with no retry and no escalation; the ledger
records it as an answer whose gates were not applied. A provider that fails before its first token
(overloaded, down, or unable to stream) sends the call down the gated path instead, where the cascade
escalates as usual; a failure after the first token ends the stream with an error event.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, Iterator

from app.cascade.records import ANSWER, AttemptRecord, CascadeResult
from app.errors import ProviderError
from app.tasks import runner as service
from app.gateway.calls import StoredCall
from app.gateway.chat import END_TURN, TOOL_USE
from app.gateway.streaming import StreamFailed
from app.providers.base import ModelCall, ModelReply, tool_uses
from app.execution.runtime import Runtime

LIVE = "live"
UNGATED_REASON = "streamed live: gates not applied"


def wants_live(call: StoredCall) -> bool:
    chat = call.chat
    return (chat.stream and call.policy.gateway.stream == LIVE and not chat.json_output
            and chat.json_schema is None and not call.decision.needs_review)


@dataclass
class LiveStream:
    """A started stream: the first event is in, the rest follows as the client reads."""

    rt: Runtime
    call: StoredCall
    model_call: ModelCall
    provider_name: str
    first: dict[str, Any]
    rest: Iterator[dict[str, Any]]
    headers: dict[str, str] = field(default_factory=dict)
    recorded: bool = False

    def events(self) -> Iterator[dict[str, Any]]:
        """The provider's events, its ``done`` turned into ``finish``; the ledger is written at the end."""
        try:
            with self.rt.leases.hold(self.call.request_id):  # renewed while the stream runs
                for event in chain([self.first], self.rest):
                    if event["type"] != "done":
                        yield event
                        continue
                    reply: ModelReply = event["reply"]
                    stop = reply.stop_reason or (TOOL_USE if tool_uses(reply.content) else END_TURN)
                    self._record(reply, None)
                    yield {"type": "finish", "stop_reason": stop, "usage": reply.usage}
        except ProviderError as exc:
            self._record(None, str(exc))
            raise StreamFailed(f"the model stopped mid-answer: {exc}") from None
        except GeneratorExit:
            self._record(None, "the client closed the stream before the end")
            raise

    def _record(self, reply: ModelReply | None, error: str | None) -> None:
        if self.recorded:
            return
        self.recorded = True
        call, policy = self.call, self.call.policy
        tier, model = call.decision.tier, self.model_call.model
        attempt = AttemptRecord(tier=tier, model=model, provider=self.provider_name, purpose=ANSWER)
        if reply is not None:
            if reply.provider and reply.model in policy.prices.models:
                attempt.provider, attempt.model = reply.provider, reply.model
            attempt.ok, attempt.reason, attempt.usage = True, UNGATED_REASON, reply.usage
            attempt.latency_ms, attempt.content, attempt.stop_reason = reply.latency_ms, reply.content, reply.stop_reason
            attempt.output_text = "\n".join([reply.text] + [f"[tool call {b['name']}: {json.dumps(b.get('input'))}]"
                                                            for b in tool_uses(reply.content)]).strip()
            attempt.cost_usd = policy.prices.cost(attempt.model, reply.usage)
            attempt.baseline_cost_usd = policy.prices.plain_cost(policy.baseline_model, reply.usage)
        else:
            attempt.gate, attempt.reason = "provider", error
        result = CascadeResult(task_type=call.decision.task_type, status="done" if reply else "failed",
                               output=reply.text if reply else None, tier=tier if reply else None,
                               model=attempt.model if reply else None, start_tier=tier, escalated=False,
                               needs_review=False, review_reasons=[], attempts=[attempt], error=error)
        # The outcome, attempt and totals in one transaction, as the fallback service stores a cascade's.
        service.store_outcome(self.rt, call.request_id, result, call.payload, callback=False)


def start_live(rt: Runtime, call: StoredCall) -> LiveStream | None:
    """Open the routed tier's stream and wait for its first event; None when the gated path must answer."""
    policy, chat, tier = call.policy, call.chat, call.decision.tier
    provider = rt.providers(policy)[tier]
    model_call = ModelCall(model=policy.model_for(tier), messages=chat.messages, cached_system=chat.system,
                           max_tokens=chat.max_tokens or policy.tiers[tier].max_output_tokens, tier=tier,
                           tools=chat.tools, tool_choice=chat.tool_choice, temperature=chat.temperature,
                           top_p=chat.top_p, stop=chat.stop)
    events = provider.stream(model_call)
    try:
        first = next(events)
    except (ProviderError, StopIteration):
        return None
    headers = {"x-tiergate-request-id": call.request_id, "x-tiergate-decision-id": call.payload["decision"]["id"],
               "x-tiergate-tier": tier, "x-tiergate-model": model_call.model, "x-tiergate-stream": LIVE}
    return LiveStream(rt, call, model_call, provider.name, first, events, headers)
