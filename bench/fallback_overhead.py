"""What POST /v1/fallback adds over calling the provider directly, median and p99.

Starts the fake Messages API (its own process, answering at once) and default ``tiergate up`` pointed
at it. Then, sequentially and closed-loop:
  * direct: the Anthropic SDK (as AnthropicProvider uses it) calls the fake N times;
  * gateway: POST /v1/fallback (exec sync, task type ``summary``, one gate) N times.
Overhead = gateway latency - direct latency, at the median and at p99: auth, routing, storing the request,
the cascade in the web process, the ledger write. Target: under 3 ms median, p99 under 10 ms.
Run: .venv/bin/python bench/fallback_overhead.py [--requests 200]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Stack, percentile  # noqa: E402

TEXT = "Meeting notes: we agreed to ship the new price list on Friday."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    from app.providers import AnthropicProvider, ModelCall

    with Stack() as stack:
        provider = AnthropicProvider("bench-key", stack.fake_url, timeout=10, max_retries=0)
        call = ModelCall(model="claude-sonnet-4-6", messages=[{"role": "user", "content": TEXT}],
                         cached_system="You summarise the input.", max_tokens=300)
        session = requests.Session()
        body = {"task_type": "summary", "text": TEXT}
        for _ in range(20):  # warm-up: connections, SQLite pages, the SDK's first call
            provider.complete(call)
            session.post(f"{stack.url}/v1/fallback", json=body, headers=stack.headers).raise_for_status()
        direct, gateway = [], []
        for _ in range(args.requests):
            started = time.perf_counter()
            provider.complete(call)
            direct.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            response = session.post(f"{stack.url}/v1/fallback", json=body, headers=stack.headers)
            gateway.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.text
    d50, d99 = statistics.median(direct), percentile(direct, 0.99)
    g50, g99 = statistics.median(gateway), percentile(gateway, 0.99)
    print(f"direct provider call: median {d50:.2f} ms, p99 {d99:.2f} ms ({args.requests} calls)")
    print(f"POST /v1/fallback   : median {g50:.2f} ms, p99 {g99:.2f} ms")
    print(f"gateway overhead    : median {g50 - d50:.2f} ms, p99 {g99 - d99:.2f} ms "
          f"(target < 3 ms median: {'met' if g50 - d50 < 3 else 'NOT met'}; p99 < 10 ms: "
          f"{'met' if g99 - d99 < 10 else 'NOT met'})")


if __name__ == "__main__":
    main()
