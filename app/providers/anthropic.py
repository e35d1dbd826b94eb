"""Anthropic's Messages API through the official SDK.

The SDK already retries 408/409/429/5xx/529 and connection errors with exponential backoff and honours
``retry-after``/``retry-after-ms``; we only configure it (timeout, ``max_retries``) and turn what is
left after its retries into ``ProviderError``. In gevent processes whole answers go out through
``app.providers.messages_call``: the SDK's headers built once, its retry policy and errors. The SDK is
imported lazily so a dry-run install or an OpenAI-only policy never loads it.
"""
from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from typing import Any, Iterator

import orjson

from app.errors import ProviderError
from app.pricing import CLIENT_MARKERS, OWN_MARKERS, PriceTable, Usage
from app.providers.base import ModelCall, ModelReply, Provider, call_budget, not_the_api
from app.providers.tokens import estimate_tokens

MESSAGES_PATH = "/v1/messages"
CACHE_CONTROL = {"type": "ephemeral"}
JSON_ONLY_NOTE = "Answer with JSON only: no prose and no code fences."


class AnthropicProvider(Provider):
    name = "anthropic"

    def __init__(self, api_key: str, base_url: str | None = None, timeout: float = 60.0, max_retries: int = 2,
                 prices: PriceTable | None = None, http_client: Any = None):
        import anthropic  # lazy: heavy, and unused in dry-run mode
        import httpx2  # the SDK's HTTP client: its exceptions are the causes of the SDK's connection errors

        from app.providers.messages_call import MessagesCall
        from app.providers.transport import gevent_http_client

        self._sdk, self._httpx = anthropic, httpx2
        self.prices = prices  # for the per-model minimum cacheable prefix
        self.timeout = timeout
        self.max_retries = max_retries
        # No OpenTelemetry spans: Tiergate records its own calls (the ledger), and the SDK computed a
        # span's attributes on every call even with no tracer provider installed.
        self.client = anthropic.Anthropic(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries,
                                          open_telemetry=False)
        # A stream near its deadline gets one try (``call_budget``); its timeout goes with the request.
        # Built once: a ``with_options`` copy per call was a client's worth of objects per sync request.
        self.one_try = self.client.with_options(max_retries=0) if max_retries else self.client
        # Whole answers (``complete``) go through geventhttpclient in gevent processes
        # (``app.providers.transport``), without the SDK's per-call request building but with its retry
        # policy and errors (``app.providers.messages_call``); streams and batches keep the SDK's
        # default transport.
        http_client = http_client or gevent_http_client(timeout)
        self.whole = self.client if http_client is None else self.client.with_options(http_client=http_client)
        self.messages_call = MessagesCall.over(self.whole, MESSAGES_PATH)

    @classmethod
    def from_spec(cls, spec, settings, policy) -> "AnthropicProvider":
        api_key = os.environ.get(spec.api_key_env, "") if spec and spec.api_key_env else settings.anthropic_api_key
        base_url = spec.base_url if spec and spec.base_url else settings.anthropic_base_url
        timeout = spec.timeout_seconds if spec else settings.provider_timeout_seconds
        return cls(api_key or "", base_url, timeout, settings.provider_max_retries, policy.prices)

    def complete(self, call: ModelCall) -> ModelReply:
        started = time.perf_counter()
        timeout, retries = call_budget(call, self.timeout, self.max_retries)
        markers = self.cache_markers(call)
        # The body written by orjson, and the answer read as plain JSON (below). In gevent processes it
        # goes out through ``MessagesCall`` (the SDK's head built once, its retries); elsewhere through
        # the client's ``post``: the SDK's own retries, timeouts, headers and exceptions, without
        # ``messages.create``'s walk over the parameters and the stdlib JSON encoder.
        body = orjson.dumps({"model": call.model, "max_tokens": call.max_tokens, "messages": call.messages,
                             **self.request_prefix(call), **_options(call)})
        with self._errors(call, timeout, retries):
            if self.messages_call is not None:
                status, content_type, content = self.messages_call.post(body, timeout, retries)
            else:
                raw = self.whole.post(MESSAGES_PATH, cast_to=self._httpx.Response, content=body,
                                      options={"timeout": timeout, "max_retries": retries})
                status, content_type, content = raw.status_code, raw.headers.get("content-type", ""), raw.content
        try:
            # The body read as plain JSON, not as the SDK's pydantic models: the ledger and the answer
            # need a few fields of it, and building the models was a tenth of the SDK call's CPU.
            return _reply(orjson.loads(content), call, started, markers)
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            # A body that is not JSON, or JSON that is not a message (a proxy's page, foreign JSON):
            # reading it fails here, and that is the provider's fault, not the job's.
            raise not_the_api(call.model, status, content_type, "Messages API", type(exc).__name__) from None

    def stream(self, call: ModelCall) -> Iterator[dict[str, Any]]:
        """The Messages API stream as provider events (see ``Provider.stream``)."""
        started = time.perf_counter()
        markers = self.cache_markers(call)
        client, budget = self._client(call)
        with self._errors(call, *budget), client.messages.stream(
                model=call.model, max_tokens=call.max_tokens, messages=call.messages,
                **self.request_prefix(call), **_options(call), timeout=budget[0]) as events:
            for event in events:
                if event.type == "content_block_start" and event.content_block.type == "tool_use":
                    yield {"type": "tool_start", "index": event.index, "id": event.content_block.id,
                           "name": event.content_block.name}
                elif event.type == "content_block_delta" and event.delta.type == "text_delta":
                    yield {"type": "text", "text": event.delta.text}
                elif event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                    yield {"type": "tool_args", "index": event.index, "json": event.delta.partial_json}
            message = events.get_final_message()
        yield {"type": "done", "reply": _reply(message.to_dict(), call, started, markers)}

    def _client(self, call: ModelCall):
        """The SDK client for ``call`` and its (timeout, retries): one try when the call's deadline is
        nearer than every try would take (the timeout is then sent per request)."""
        timeout, retries = call_budget(call, self.timeout, self.max_retries)
        return (self.client if retries == self.max_retries else self.one_try), (timeout, retries)

    @contextmanager
    def _errors(self, call: ModelCall, timeout: float, retries: int) -> Iterator[None]:
        """What is left after the SDK's retries, as ``ProviderError``."""
        sdk = self._sdk
        try:
            yield
        except sdk.APIStatusError as exc:
            retryable = _retryable(exc.status_code)
            after = f" (after {retries} retries)" if retryable else ""
            raise ProviderError(f"{call.model}: HTTP {exc.status_code} {exc.type or 'error'}: "
                                f"{exc.api_message or exc.message}{after}",
                                retryable=retryable, status=exc.status_code) from None
        except sdk.APITimeoutError:
            raise ProviderError(f"{call.model}: no answer within {timeout:g} s (after {retries} retries)",
                                retryable=True, outcome_unknown=True) from None
        except sdk.APIConnectionError as exc:
            # Refused before the request went out: nothing billed. Cut after it went out: maybe billed.
            # (``httpx2``, the SDK's client, not ``httpx``: a different class that never matched.)
            cut = not isinstance(exc.__cause__, self._httpx.ConnectError)
            raise ProviderError(f"{call.model}: connection failed ({exc.message}) after {retries} retries",
                                retryable=True, outcome_unknown=cut) from None
        except (ValueError, sdk.APIError) as exc:  # a stream whose events do not parse
            raise ProviderError(f"{call.model}: unreadable response: {exc}", retryable=True,
                                outcome_unknown=True) from None

    def cache_markers(self, call: ModelCall) -> str | None:
        """Whose cache markers ``call`` goes out with. A client that marked anything keeps exactly its
        own. Otherwise Tiergate marks the end of the stable prefix (the tools, then the system prompt,
        as the API orders the cache prefix) when that prefix reaches the model's minimum: the API caches
        nothing shorter, so a marker there would only promise a discount that never comes."""
        if _client_marked(call):
            return CLIENT_MARKERS
        if not (call.cached_system or call.tools):
            return None
        prefix = estimate_tokens(call.cached_system) + estimate_tokens(_tools_text(call.tools))
        return OWN_MARKERS if self.prices is None or self.prices.cacheable(call.model, prefix) else None

    def request_prefix(self, call: ModelCall) -> dict[str, Any]:
        """The request's ``tools`` and ``system`` (batches send them too): the client's blocks as given,
        Tiergate's marker when it places one, then the per-request system text."""
        tools = [dict(tool) for tool in call.tools] if call.tools else []
        if call.system_blocks:
            system = [dict(block) for block in call.system_blocks]
        else:
            system = [{"type": "text", "text": call.cached_system}] if call.cached_system else []
        if self.cache_markers(call) == OWN_MARKERS:
            (system or tools)[-1]["cache_control"] = CACHE_CONTROL
        extra = "\n\n".join(part for part in (call.system, JSON_ONLY_NOTE if call.json_output else "") if part)
        if extra:
            system.append({"type": "text", "text": extra})
        return {name: value for name, value in (("tools", tools), ("system", system)) if value}


def _client_marked(call: ModelCall) -> bool:
    """Did the client mark any tool, system block or content block for its cache?"""
    blocks = [*(call.tools or []), *(call.system_blocks or [])]
    blocks += [block for message in call.messages if isinstance(message.get("content"), list)
               for block in message["content"]]
    return any(isinstance(block, dict) and block.get("cache_control") for block in blocks)


def _tools_text(tools: list[dict[str, Any]] | None) -> str:
    return json.dumps(tools, ensure_ascii=False, separators=(",", ":")) if tools else ""


def read_usage(usage: Any) -> Usage:
    """The API's usage block as billed (a dict as sent, or the SDK's model of it): ``input_tokens``
    excludes cached tokens; cache writes are split by TTL in ``cache_creation`` (absent on older API
    versions: then every write is a 5-minute one)."""
    if not isinstance(usage, dict):
        usage = usage.to_dict()
    input_tokens, output_tokens = usage["input_tokens"], usage["output_tokens"]
    if not isinstance(input_tokens, int) or not isinstance(output_tokens, int):
        raise TypeError("usage without token counts")
    breakdown = usage.get("cache_creation") or {}
    write_1h = breakdown.get("ephemeral_1h_input_tokens") or 0
    write_5m = breakdown.get("ephemeral_5m_input_tokens") or 0
    writes = usage.get("cache_creation_input_tokens")
    if writes is None:
        writes = write_5m + write_1h
    return Usage(input_tokens=input_tokens, output_tokens=output_tokens, cache_write_tokens=writes,
                 cache_read_tokens=usage.get("cache_read_input_tokens") or 0, cache_write_1h_tokens=write_1h)


def _reply(message: dict[str, Any], call: ModelCall, started: float, markers: str | None) -> ModelReply:
    """The reply in a Messages API message, as JSON; ``TypeError``/``KeyError`` when it is not one."""
    content = message["content"]
    if not isinstance(content, list) or not all(isinstance(block, dict) for block in content):
        raise TypeError("content is not a list of blocks")
    usage = read_usage(message["usage"])
    # Blocks are copied out only when the answer has more than text (tool use): the ledger and the
    # answer need nothing else from a plain text reply. Fields the API sent as null are left out.
    plain = all(block.get("type") == "text" for block in content)
    blocks = None if plain else [{key: value for key, value in block.items() if value is not None} for block in content]
    return ModelReply(
        text="".join(block["text"] for block in content if block.get("type") == "text"),
        usage=usage,
        latency_ms=(time.perf_counter() - started) * 1000,
        model=message.get("model") or call.model,
        stop_reason=message.get("stop_reason"),
        content=blocks,
        cache_markers=markers,
    )


def _options(call: ModelCall) -> dict[str, Any]:
    """The client's own settings of a drop-in gateway call, as Messages API parameters.

    ``temperature`` and ``top_p`` are not sent: the current Messages API and SDK no longer take
    sampling settings.
    """
    options: dict[str, Any] = {"tool_choice": call.tool_choice, "stop_sequences": call.stop}
    if call.json_schema is not None:
        options["output_config"] = {"format": {"type": "json_schema", "schema": call.json_schema}}
    return {name: value for name, value in options.items() if value is not None}


def _retryable(status: int) -> bool:
    return status in (408, 409, 429) or status >= 500
