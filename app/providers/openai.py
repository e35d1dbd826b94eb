"""Any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama) via ``requests``.

Configured per tier in the policy's ``providers:`` section (``kind: openai``). Retries mirror the
Anthropic SDK's policy: 408/409/429/5xx and connection or read failures, exponential backoff, and
``Retry-After`` honoured — urllib3's ``Retry`` does all of it.
"""
from __future__ import annotations

import os
import time
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from app.errors import ProviderError
from app.pricing import Usage
from app.providers.base import ModelCall, ModelReply, Provider, not_the_api

RETRY_STATUSES = (408, 409, 429, 500, 502, 503, 504, 529)
RETRY_BACKOFF_SECONDS = 0.5


class OpenAIProvider(Provider):
    name = "openai"

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 60.0, max_retries: int = 2):
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.timeout = timeout
        self.max_retries = max_retries
        self.session = requests.Session()
        retry = Retry(total=max_retries, status_forcelist=RETRY_STATUSES, allowed_methods=None,
                      backoff_factor=RETRY_BACKOFF_SECONDS, respect_retry_after_header=True, raise_on_status=False)
        self.session.mount("http://", HTTPAdapter(max_retries=retry))
        self.session.mount("https://", HTTPAdapter(max_retries=retry))
        if api_key:
            self.session.headers["Authorization"] = f"Bearer {api_key}"

    @classmethod
    def from_spec(cls, spec, settings, policy) -> "OpenAIProvider":
        if spec is None or not spec.base_url:
            raise ProviderError("an openai provider needs base_url in the policy")
        api_key = os.environ.get(spec.api_key_env) if spec.api_key_env else None
        return cls(spec.base_url, api_key, spec.timeout_seconds, settings.provider_max_retries)

    def complete(self, call: ModelCall) -> ModelReply:
        system = "\n\n".join(part for part in (call.cached_system, call.system) if part)
        body: dict[str, Any] = {"model": call.model, "max_tokens": call.max_tokens,
                                "messages": ([{"role": "system", "content": system}] if system else []) + call.messages}
        if call.json_output:
            body["response_format"] = {"type": "json_object"}
        started = time.perf_counter()
        try:
            response = self.session.post(self.url, json=body, timeout=self.timeout)
        except requests.Timeout:
            raise ProviderError(f"{call.model}: no answer within {self.timeout:g} s "
                                f"(after {self.max_retries} retries)", retryable=True) from None
        except requests.RequestException as exc:
            raise ProviderError(f"{call.model}: request failed after {self.max_retries} retries: "
                                f"{type(exc).__name__}", retryable=True) from None
        if response.status_code >= 400:
            raise ProviderError(f"{call.model}: HTTP {response.status_code}: {response.text[:200]}",
                                retryable=response.status_code in RETRY_STATUSES, status=response.status_code)
        try:
            return _reply(response.json(), call, started)
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            # A proxy's HTML page or foreign JSON, often with status 200: the provider's fault, not the job's.
            raise not_the_api(call.model, response.status_code, response.headers.get("content-type", ""),
                              "chat completions", type(exc).__name__) from None


def _reply(data: dict[str, Any], call: ModelCall, started: float) -> ModelReply:
    choice = data["choices"][0]
    text = choice["message"]["content"] or ""
    usage = data.get("usage") or {}
    prompt = int(usage.get("prompt_tokens") or 0)
    cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    return ModelReply(
        text=text,
        # OpenAI counts cached tokens inside prompt_tokens; our Usage keeps them apart.
        usage=Usage(input_tokens=prompt - cached, output_tokens=int(usage.get("completion_tokens") or 0),
                    cache_read_tokens=cached),
        latency_ms=(time.perf_counter() - started) * 1000,
        model=data.get("model") or call.model,
        stop_reason=choice.get("finish_reason"),
    )
