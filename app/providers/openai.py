"""Any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama) via ``requests``.

Configured per tier in the policy's ``providers:`` section (``kind: openai``). Retries mirror the
Anthropic SDK's policy: 408/409/429/5xx and connection or read failures, exponential backoff, and
``Retry-After`` honoured — urllib3's ``Retry`` does all of it.
"""
from __future__ import annotations

import json
import os
import time
from typing import Any, Iterator

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from app.errors import ProviderError
from app.providers.openai_wire import STOP_REASONS, provider_messages, provider_tool_choice, provider_tools, reply_content
from app.pricing import Usage
from app.providers.base import ModelCall, ModelReply, Provider, call_budget, not_the_api

RETRY_STATUSES = (408, 409, 429, 500, 502, 503, 504, 529)
RETRY_BACKOFF_SECONDS = 0.5


class OpenAIProvider(Provider):
    name = "openai"

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 60.0, max_retries: int = 2):
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.timeout = timeout
        self.max_retries = max_retries
        # One session retrying as configured, one trying once (a call whose deadline leaves no room to retry).
        self.session, self.single_try = _session(api_key, max_retries), _session(api_key, 0)

    @classmethod
    def from_spec(cls, spec, settings, policy) -> "OpenAIProvider":
        if spec is None or not spec.base_url:
            raise ProviderError("an openai provider needs base_url in the policy")
        api_key = os.environ.get(spec.api_key_env) if spec.api_key_env else None
        return cls(spec.base_url, api_key, spec.timeout_seconds, settings.provider_max_retries)

    def complete(self, call: ModelCall) -> ModelReply:
        body = _body(call)
        started = time.perf_counter()
        response = self._post(call, body)
        try:
            data = response.json()
            message = data["choices"][0]["message"]
            if not isinstance(message, dict):
                raise TypeError("message is not an object")
            return _reply(call, message, data["choices"][0].get("finish_reason"), data.get("usage") or {},
                          data.get("model"), started)
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            # A proxy's HTML page or foreign JSON, often with status 200: the provider's fault, not the job's.
            raise not_the_api(call.model, response.status_code, response.headers.get("content-type", ""),
                              "chat completions", type(exc).__name__) from None

    def stream(self, call: ModelCall) -> Iterator[dict[str, Any]]:
        """The Chat Completions stream as provider events (see ``Provider.stream``)."""
        body = {**_body(call), "stream": True, "stream_options": {"include_usage": True}}
        started = time.perf_counter()
        response = self._post(call, body, stream=True)
        with response:
            try:
                yield from _stream_events(response, call, started)
            except (ValueError, KeyError, TypeError, requests.RequestException) as exc:
                raise ProviderError(f"{call.model}: broken stream: {exc!r}", retryable=True,
                                    outcome_unknown=True) from None

    def _post(self, call: ModelCall, body: dict[str, Any], stream: bool = False) -> requests.Response:
        timeout, retries = call_budget(call, self.timeout, self.max_retries)
        session = self.session if retries == self.max_retries else self.single_try
        try:
            response = session.post(self.url, json=body, timeout=timeout, stream=stream)
        except requests.ConnectTimeout:
            raise ProviderError(f"{call.model}: no connection within {timeout:g} s (after {retries} retries)",
                                retryable=True) from None
        except requests.Timeout:  # sent, and no answer: the provider may have billed it
            raise ProviderError(f"{call.model}: no answer within {timeout:g} s (after {retries} retries)",
                                retryable=True, outcome_unknown=True) from None
        except requests.RequestException as exc:
            raise ProviderError(f"{call.model}: request failed after {retries} retries: "
                                f"{type(exc).__name__}", retryable=True,
                                outcome_unknown=isinstance(exc, requests.exceptions.ChunkedEncodingError)) from None
        if response.status_code >= 400:
            raise ProviderError(f"{call.model}: HTTP {response.status_code}: {response.text[:200]}",
                                retryable=response.status_code in RETRY_STATUSES, status=response.status_code)
        return response

def _session(api_key: str | None, max_retries: int) -> requests.Session:
    session = requests.Session()
    retry = Retry(total=max_retries, status_forcelist=RETRY_STATUSES, allowed_methods=None,
                  backoff_factor=RETRY_BACKOFF_SECONDS, respect_retry_after_header=True, raise_on_status=False)
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.mount("https://", HTTPAdapter(max_retries=retry))
    if api_key:
        session.headers["Authorization"] = f"Bearer {api_key}"
    return session


def _stream_events(response: requests.Response, call: ModelCall, started: float) -> Iterator[dict[str, Any]]:
    """Chat Completions chunks as provider events; the usage comes in the last chunk."""
    text, calls, usage, finish, model = [], {}, {}, None, call.model
    for line in response.iter_lines(decode_unicode=True):
        if not line or not line.startswith("data: ") or line == "data: [DONE]":
            continue
        chunk = json.loads(line[6:])
        model, usage = chunk.get("model") or model, chunk.get("usage") or usage
        for choice in chunk.get("choices") or []:
            delta, finish = choice.get("delta") or {}, choice.get("finish_reason") or finish
            if delta.get("content"):
                text.append(delta["content"])
                yield {"type": "text", "text": delta["content"]}
            for part in delta.get("tool_calls") or []:
                index, function = part.get("index", 0), part.get("function") or {}
                if index not in calls:
                    calls[index] = {"id": part.get("id") or "", "type": "function",
                                    "function": {"name": function.get("name") or "", "arguments": ""}}
                    yield {"type": "tool_start", "index": index, "id": calls[index]["id"],
                           "name": calls[index]["function"]["name"]}
                if function.get("arguments"):
                    calls[index]["function"]["arguments"] += function["arguments"]
                    yield {"type": "tool_args", "index": index, "json": function["arguments"]}
    message = {"content": "".join(text), "tool_calls": [calls[i] for i in sorted(calls)]}
    yield {"type": "done", "reply": _reply(call, message, finish, usage, model, started)}


def _reply(call: ModelCall, message: dict[str, Any], finish: str | None, usage: dict[str, Any], model: str | None,
           started: float) -> ModelReply:
    prompt = int(usage.get("prompt_tokens") or 0)
    cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    return ModelReply(
        text=message.get("content") or "",
        # OpenAI counts cached tokens inside prompt_tokens; our Usage keeps them apart.
        usage=Usage(input_tokens=prompt - cached, output_tokens=int(usage.get("completion_tokens") or 0),
                    cache_read_tokens=cached),
        latency_ms=(time.perf_counter() - started) * 1000,
        model=model or call.model,
        stop_reason=STOP_REASONS.get(finish, finish),
        content=reply_content(message) if message.get("tool_calls") else None,
    )


def _body(call: ModelCall) -> dict[str, Any]:
    """The Chat Completions body: Anthropic-shaped messages, tools and structured output translated."""
    system = "\n\n".join(part for part in (call.cached_system, call.system) if part)
    body: dict[str, Any] = {"model": call.model, "max_tokens": call.max_tokens,
                            "messages": provider_messages(system, call.messages)}
    if call.json_schema is not None:
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": "answer", "schema": call.json_schema}}
    elif call.json_output:
        body["response_format"] = {"type": "json_object"}
    options = {"tools": provider_tools(call.tools), "tool_choice": provider_tool_choice(call.tool_choice),
               "temperature": call.temperature, "top_p": call.top_p, "stop": call.stop}
    body.update({name: value for name, value in options.items() if value is not None})
    if (call.tool_choice or {}).get("disable_parallel_tool_use"):
        body["parallel_tool_calls"] = False
    return body
