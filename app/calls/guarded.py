"""The one guarded model call: every call Tiergate pays for goes through ``Guards``.

For each call, in this order: the circuit breaker (a model whose circuit is open is not called), the
budget reservation (the call's upper bound, ``call_upper_bound``, is held before it goes out; a refused
reservation means no call), the in-flight note (so a crash mid-call still leaves the paid call to be
booked), the call, then the settlement (the actual cost booked, the hold freed; a call that timed out
or a stream closed early is booked at its upper bound), the breaker's verdict, the attempt record
and the metrics. Cascade steps, classify chunks, live streams, the LLM router, shadow and judge calls
and reviewers' re-runs all call it; a new paying feature does too, and inherits every guard.

Callers keep what is theirs: what to do when a call is refused or fails (wait, escalate, fail) and how
the answer is judged.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Iterator, Protocol, Sequence

from app.calls.attempt import AttemptRecord
from app.errors import ProviderError
from app.metrics import COST_USD, MODEL_CALLS
from app.pricing import PriceTable, Usage
from app.providers.base import ModelCall, ModelReply, Provider, tool_uses
from app.providers.breaker import CircuitBreaker
from app.providers.tokens import MESSAGE_OVERHEAD_TOKENS, estimate_tokens

# Why a call was not made or did not answer, as ``AttemptRecord.gate`` says it.
CIRCUIT, BUDGET, PROVIDER = "circuit", "budget", "provider"
CLOSED_EARLY = "the client closed the stream before the end; booked at the call's upper bound"
OUTCOME_UNKNOWN = "outcome unknown: booked at the call's upper bound (the provider may have billed it)"


class CallObserver(Protocol):
    """Told about every model call just before it goes out and once it is over (e.g. to remember the
    calls in flight, so a crash mid-call still shows in the ledger)."""

    def before(self, call: ModelCall, bound: Decimal) -> None:
        """``bound``: the call's upper bound (``call_upper_bound``), the one its budgets hold: counted once
        per call for the guards and every observer."""

    def after(self, call: ModelCall) -> None: ...


class SpendGuard(Protocol):
    """Budgets around each model call (``app.money.budgets.RequestSpend``)."""

    @property
    def bounded(self) -> bool:
        """Does any budget apply? Without one there is nothing to hold and no bound to count."""

    def reserve(self, model: str, estimate: Decimal) -> str | None:
        """Hold ``estimate`` (the call's upper bound) before a call; returns why the call may not run, or None."""

    def settle(self, estimate: Decimal, cost: Decimal, *, draw: bool = True) -> None:
        """Book the call's actual cost."""


class CallRefused(Exception):
    """A stream that was not opened: its circuit is open (``gate == CIRCUIT``) or its budget has no room."""

    def __init__(self, gate: str, reason: str):
        super().__init__(reason)
        self.gate, self.reason = gate, reason


def call_upper_bound(prices: PriceTable, call: ModelCall) -> Decimal:
    """The most ``call`` can cost, held on the budgets before it goes out: everything it sends (system
    prefix, task prompt, knowledge, labels, schema, tools, tool calls and results, the conversation), counted
    on the request as serialised, at the plain input price; ``max_tokens`` at the output price; and what is
    marked for caching at the cache-write multiplier (the 1 h one when a marker asks for it). A model
    without a price (a pass-through name) is priced at nothing."""
    if call.model not in prices.models:
        return Decimal(0)
    sent = json.dumps({"system": [call.cached_system, call.system], "messages": call.messages, "tools": call.tools,
                       "tool_choice": call.tool_choice, "stop": call.stop, "schema": call.json_schema},
                      ensure_ascii=False, default=str)
    tokens_in = estimate_tokens(sent) + MESSAGE_OVERHEAD_TOKENS * len(call.messages)
    client_marked = '"cache_control"' in sent
    own = estimate_tokens(call.cached_system)
    marked = tokens_in if client_marked else own if prices.cacheable(call.model, own) else 0
    one_hour = '"ttl": "1h"' in sent
    usage = Usage(input_tokens=tokens_in - marked, output_tokens=call.max_tokens, cache_write_tokens=marked,
                  cache_write_1h_tokens=marked if one_hour else 0)
    return prices.cost(call.model, usage)


@dataclass
class Guards:
    """What watches the model calls of one piece of work (a request, a list chunk, a comparison)."""

    prices: PriceTable
    breaker: CircuitBreaker | None = None
    spend: SpendGuard | None = None
    observers: Sequence[CallObserver] = ()

    def available(self, model: str) -> bool:
        """May ``model`` be called now? Takes the half-open circuit's one probe when it is its turn."""
        return self.breaker is None or self.breaker.acquire(model)

    def release(self, model: str) -> None:
        """The caller took ``available`` but will not call ``model`` after all: give a probe back."""
        if self.breaker is not None:
            self.breaker.release(model)

    def complete(self, provider: Provider, call: ModelCall, record: AttemptRecord, *,
                 circuit_checked: bool = False) -> ModelReply | None:
        """Make ``call`` for ``record`` and fill the record; None when no answer came back.

        ``record.gate`` then says why: ``circuit`` and ``budget`` (not called, nothing paid) or
        ``provider`` (called and failed after the transport's retries). ``circuit_checked``: the caller
        already took the breaker's permission (``available``) to decide how to wait.
        """
        refused, estimate = self._reserve(call, circuit_checked)
        if refused is not None:
            record.gate, record.reason = refused.gate, refused.reason
            return None
        bound = self._before(call, estimate)
        try:
            reply = provider.complete(call)
        except ProviderError as exc:
            self._failed(record, call, estimate, exc, bound)
            return None
        finally:
            self._after(call)
        self._answered(record, reply, estimate)
        return reply

    def stream(self, provider: Provider, call: ModelCall, record: AttemptRecord, *,
               circuit_checked: bool = False) -> Iterator[dict]:
        """``provider.stream(call)`` under the same guards; the record is filled when the stream ends.

        Raises ``CallRefused`` at the first ``next()`` when the call may not go out, ``ProviderError``
        when it fails. A stream the client closes early is booked at the call's upper bound: the provider
        bills what it generated, which nobody here saw.
        """
        refused, estimate = self._reserve(call, circuit_checked)
        if refused is not None:
            record.gate, record.reason = refused.gate, refused.reason
            raise refused
        bound = self._before(call, estimate)
        finished = False
        try:
            for event in provider.stream(call):
                if event["type"] == "done":
                    self._answered(record, event["reply"], estimate)
                    finished = True
                yield event
        except ProviderError as exc:
            self._failed(record, call, estimate, exc, bound)
            raise
        except GeneratorExit:
            if not finished:
                self._closed_early(record, call, estimate, bound)
            raise
        finally:
            self._after(call)

    def hold_batch(self, call: ModelCall) -> str | None:
        """Hold a Message Batch request's upper bound (at the batch price) before the batch is
        submitted; returns why it may not go, or None. The list frees its holds when it finishes."""
        if self.spend is None:
            return None
        return self.spend.reserve(call.model, call_upper_bound(self.prices, call) * self.prices.batch_multiplier)

    def book_batch(self, record: AttemptRecord, reply: ModelReply) -> None:
        """An answer that came from a Message Batch: priced at the batch discount, booked on the
        budgets beside the hold its submission took (freed when the list finishes)."""
        record.batch = True
        self._fill(record, reply, batch=True)
        if self.spend is not None:
            self.spend.settle(Decimal(0), record.cost_usd, draw=False)
        _count(record, "ok")

    # -- steps -----------------------------------------------------------------------------------
    def _reserve(self, call: ModelCall, circuit_checked: bool) -> tuple[CallRefused | None, Decimal | None]:
        """The breaker's permission and the budget hold; returns why the call may not go out, and the
        bound it held (None: no budget applies, so none was counted)."""
        if not circuit_checked and not self.available(call.model):
            return CallRefused(CIRCUIT, self.breaker.describe(call.model)), Decimal(0)
        if self.spend is None or not self.spend.bounded:
            return None, None
        estimate = call_upper_bound(self.prices, call)
        reason = self.spend.reserve(call.model, estimate)
        if reason:
            if self.breaker is not None:
                self.breaker.release(call.model)  # not called: a probe it held goes to the next caller
            MODEL_CALLS.labels(model=call.model, outcome="refused").inc()
            return CallRefused(BUDGET, reason), estimate
        return None, estimate

    def _before(self, call: ModelCall, estimate: Decimal | None) -> Decimal | None:
        """Tell the observers, with the call's upper bound: the budgets' hold (``estimate``), else counted
        here, once for all of them. Returns the bound (None: no budget and no observer needed it)."""
        if not self.observers:
            return estimate
        bound = estimate if estimate is not None else call_upper_bound(self.prices, call)
        for observer in self.observers:
            observer.before(call, bound)
        return bound

    def _after(self, call: ModelCall) -> None:
        for observer in self.observers:
            observer.after(call)

    def _failed(self, record: AttemptRecord, call: ModelCall, estimate: Decimal | None, exc: ProviderError,
                bound: Decimal | None) -> None:
        cost = Decimal(0)
        if exc.outcome_unknown:  # timed out or cut after it went out: booked like a lost call
            cost = bound if bound is not None else call_upper_bound(self.prices, call)
        if estimate is not None:  # a budget applies: book it there
            self.spend.settle(estimate, cost)
        record.ok, record.gate, record.reason, record.cost_usd = False, PROVIDER, str(exc), cost
        if exc.outcome_unknown:
            record.reason += f"; {OUTCOME_UNKNOWN}"
        if self.breaker is not None and self.breaker.record_failure(call.model):
            record.reason += f"; the circuit for {call.model} is now open"
        _count(record, "error")

    def _answered(self, record: AttemptRecord, reply: ModelReply, estimate: Decimal | None) -> None:
        if self.breaker is not None:
            self.breaker.record_success(record.model)
        self._fill(record, reply)
        if estimate is not None:  # a budget applies: book it there
            self.spend.settle(estimate, record.cost_usd)
        _count(record, "ok")

    def _closed_early(self, record: AttemptRecord, call: ModelCall, estimate: Decimal | None,
                      bound: Decimal | None) -> None:
        cost = bound if bound is not None else call_upper_bound(self.prices, call)
        record.ok, record.gate, record.reason, record.cost_usd = False, PROVIDER, CLOSED_EARLY, cost
        if estimate is not None:  # a budget applies: book it there
            self.spend.settle(estimate, cost)
        _count(record, "closed")

    def _fill(self, record: AttemptRecord, reply: ModelReply, *, batch: bool = False) -> None:
        record.usage, record.latency_ms, record.output_text = reply.usage, reply.latency_ms, reply.text
        record.content, record.stop_reason, record.cache_markers = reply.content, reply.stop_reason, reply.cache_markers
        if tool_uses(reply.content):
            record.output_text = "\n".join([reply.text] + [f"[tool call {block['name']}: {json.dumps(block.get('input'))}]"
                                                           for block in tool_uses(reply.content)]).strip()
        if reply.provider and reply.model in self.prices.models:  # answered by a failover provider's model
            record.provider, record.model = reply.provider, reply.model
        record.cost_usd = self.prices.cost(record.model, reply.usage, batch=batch)


def _count(record: AttemptRecord, outcome: str) -> None:
    MODEL_CALLS.labels(model=record.model, outcome=outcome).inc()
    if record.cost_usd:
        COST_USD.labels(model=record.model).inc(float(record.cost_usd))
