"""Live streaming: the routed tier's tokens go to the client as the model writes them, without gates.

Used only where the policy asks for it (``gateway.stream: live``) and a gate could change nothing the
client has not seen yet: no JSON format was requested and the routing decision holds nothing for
review. Such a call is one model call on the routed tier, with no retry and no escalation, made through
the one guarded call (``app.calls.Guards``: breaker, budget hold and settlement, in-flight note, metrics);
the ledger records it as an answer whose gates were not applied. A stream the client closes early (even
before its first event was read) is booked on the budgets and in the ledger at the call's upper bound:
the provider billed what it wrote, which nobody here saw. A provider that fails before its first token
(overloaded, down, or unable to stream) sends the call down the gated path instead, where the cascade
escalates as usual; a failure after the first token ends the stream with an error event. The wait for
the first token ends at the request's sync bound (the call's ``deadline``, as on the gated path): a
stream cut there, or cut after it went out, may have been billed, so it is booked at its upper bound
and answered 502 (the bound leaves no time for the gated path).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import chain
from typing import Any, Iterator

from app.calls import ANSWER, BUDGET, AttemptRecord, CallRefused, Guards
from app.cascade.records import CascadeResult
from app.errors import ProviderError
from app.execution.inflight import InFlightCalls
from app.money.budgets import BudgetExhausted, RequestSpend, request_spend
from app.tasks import runner as service
from app.gateway.calls import StoredCall, UpstreamFailed
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
    record: AttemptRecord
    first: dict[str, Any]
    rest: Iterator[dict[str, Any]]
    spend: RequestSpend
    in_flight: InFlightCalls
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
                    self._record(reply)
                    yield {"type": "finish", "stop_reason": stop, "usage": reply.usage}
        except ProviderError as exc:
            self._record(None)
            raise StreamFailed(f"the model stopped mid-answer: {exc}") from None
        except GeneratorExit:
            self.close()
            raise

    def close(self) -> None:
        """The response is over. A stream not recorded by then was left by the client (even before its
        first event was read): the guards book the call at its upper bound (the provider billed what it
        wrote, which nobody here saw), and the ledger records it."""
        if not self.recorded:
            self.rest.close()
            self._record(None)

    def _record(self, reply: ModelReply | None) -> None:
        """The outcome, the attempt (filled by the guards) and the totals in one transaction."""
        if self.recorded:
            return
        self.recorded = True
        call, policy, attempt = self.call, self.call.policy, self.record
        tier = call.decision.tier
        if reply is not None:
            attempt.ok, attempt.reason = True, UNGATED_REASON
            attempt.baseline_cost_usd = policy.prices.baseline_cost(policy.baseline_model, reply.usage,
                                                                    attempt.cache_markers)
        result = CascadeResult(task_type=call.decision.task_type, status="done" if reply else "failed",
                               output=reply.text if reply else None, tier=tier if reply else None,
                               model=attempt.model if reply else None, start_tier=tier, escalated=False,
                               needs_review=False, review_reasons=[], attempts=[attempt],
                               error=None if reply else attempt.reason, stop_rule=None if reply else attempt.gate)
        self.spend.release()
        if service.store_outcome(self.rt, call.request_id, result, call.payload, callback=False) is not None:
            self.in_flight.clear()  # the call is in the ledger now


def start_live(rt: Runtime, call: StoredCall, arrived: float) -> LiveStream | None:
    """Open the routed tier's stream through the guards and wait for its first event, up to the sync
    bound counted from ``arrived`` (``time.monotonic()``); None when the gated path must answer (the
    circuit is open, or the provider failed before its first token without billing anything).

    A budget with no room for the call raises ``BudgetExhausted`` here, before the stream starts; a
    first token not in by the bound (or a stream cut after it went out) raises ``UpstreamFailed``."""
    policy, chat, tier = call.policy, call.chat, call.decision.tier
    provider = rt.providers(policy)[tier]
    model_call = ModelCall(model=policy.model_for(tier), messages=chat.messages, cached_system=chat.system,
                           system_blocks=chat.system_blocks,
                           max_tokens=chat.max_tokens or policy.tiers[tier].max_output_tokens, tier=tier,
                           tools=chat.tools, tool_choice=chat.tool_choice, temperature=chat.temperature,
                           top_p=chat.top_p, stop=chat.stop,
                           deadline=arrived + rt.settings.sync_wait_seconds - service.SYNC_WAIT_MARGIN_SECONDS)
    spend = request_spend(rt.store, call.request_id, rt.settings)
    in_flight = InFlightCalls(rt.redis, call.request_id, policy.prices)
    guards = Guards(policy.prices, breaker=rt.breaker, spend=spend, observers=[in_flight])
    record = AttemptRecord(tier=tier, model=model_call.model, provider=provider.name, purpose=ANSWER)
    events = guards.stream(provider, model_call, record)
    try:
        first = next(events)
    except CallRefused as refused:
        if refused.gate == BUDGET:
            spend.release()
            raise BudgetExhausted(refused.reason, "budget") from None
        return None  # the circuit is open: the gated path waits or escalates as the tier says
    except ProviderError as exc:
        if not exc.outcome_unknown:
            spend.release()
            return None
        # Timed out at the bound or cut after it went out: the guards booked it at its upper bound.
        LiveStream(rt, call, model_call, record, {}, iter(()), spend, in_flight)._record(None)
        raise UpstreamFailed(f"no model could answer: {exc} (request {call.request_id})") from None
    except StopIteration:
        spend.release()
        return None
    headers = {"x-tiergate-request-id": call.request_id, "x-tiergate-decision-id": call.payload["decision"]["id"],
               "x-tiergate-tier": tier, "x-tiergate-model": model_call.model, "x-tiergate-stream": LIVE}
    return LiveStream(rt, call, model_call, record, first, events, spend, in_flight, headers)
