"""Cross-provider failover: the same tier on another provider when the tier's own provider is down.

A tier's ``failover`` in the policy (``{provider: openrouter, model: anthropic/claude-haiku-4.5}``) names
where its calls go when the primary provider fails with a retryable error (overloaded, rate limited,
5xx, timeout, connection) after its own retries. The reply then names the provider and model that
answered, so the cascade prices the attempt at that model's policy price and the ledger shows it. A
non-retryable error (a bad request) is not failed over: the other provider would refuse it too.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Iterator

from app.errors import ProviderError
from app.providers.base import ModelCall, ModelReply, Provider


class FailoverProvider(Provider):
    def __init__(self, primary: Provider, secondary: Provider, model: str):
        self.primary, self.secondary, self.model = primary, secondary, model
        self.name = primary.name
        self.dry_run = primary.dry_run

    def complete(self, call: ModelCall) -> ModelReply:
        try:
            return self.primary.complete(call)
        except ProviderError as exc:
            if not exc.retryable:
                raise
            first = exc
        try:
            reply = self.secondary.complete(replace(call, model=self.model))
        except ProviderError as exc:
            raise ProviderError(f"{first}; failover to {self.model} failed too: {exc}",
                                retryable=exc.retryable, status=exc.status,
                                outcome_unknown=first.outcome_unknown or exc.outcome_unknown) from None
        return replace(reply, provider=self.secondary.name, model=self.model)

    def stream(self, call: ModelCall) -> Iterator[dict[str, Any]]:
        """The primary's stream; the secondary's when the primary fails before its first event."""
        events = self.primary.stream(call)
        try:
            first = next(events)
        except ProviderError as exc:
            if not exc.retryable:
                raise
            for event in self.secondary.stream(replace(call, model=self.model)):
                if event["type"] == "done":
                    event = {**event, "reply": replace(event["reply"], provider=self.secondary.name, model=self.model)}
                yield event
            return
        yield first
        yield from events
