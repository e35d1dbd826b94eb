"""Gateway overhead of POST /v1/fallback over calling the provider directly, median and p99.

Starts the fake Messages API (its own process) and ``tiergate up`` (gunicorn, one RQ worker, embedded
Redis, SQLite) pointed at it. Then, sequentially and closed-loop:
  * direct: the Anthropic SDK (as AnthropicProvider uses it) calls the fake N times;
  * gateway: POST /v1/fallback (exec sync, rules mode, task type ``summary``, one gate) N times.
Overhead = gateway latency - direct latency, at the median and at p99. It includes auth, routing, the
ledger writes, the RQ hop (enqueue, worker pick-up, fork of the work horse) and the wake-up of the
waiting web request. Target (PRODUCT.md section 10): under 5 ms median.
Run: .venv/bin/python bench/fallback_overhead.py [--requests 200]
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def wait_ready(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    from app.providers import AnthropicProvider, ModelCall

    data_dir = Path(tempfile.mkdtemp(prefix="tiergate-bench-fallback-"))
    fake_port, port = free_port(), free_port()
    fake_url = f"http://127.0.0.1:{fake_port}"
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(TIERGATE_DATA_DIR=str(data_dir), ANTHROPIC_API_KEY="bench-key", ANTHROPIC_BASE_URL=fake_url,
               PYTHONPATH=str(ROOT))
    fake = subprocess.Popen([sys.executable, "-m", "tests.support.fake_anthropic", "--port", str(fake_port)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, start_new_session=True)
    log = data_dir / "up.log"
    server = subprocess.Popen([sys.executable, "-m", "app.cli", "up", "--port", str(port), "--workers", "1"],
                              cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz")
        key = re.search(r"admin API key \(shown once, store it now\): (tg_\S+)", log.read_text()).group(1)
        text = "Meeting notes: we agreed to ship the new price list on Friday."
        provider = AnthropicProvider("bench-key", fake_url, timeout=10, max_retries=0)
        call = ModelCall(model="claude-sonnet-4-6", messages=[{"role": "user", "content": text}],
                         cached_system="You summarise the input.", max_tokens=300)
        session = requests.Session()
        body = {"task_type": "summary", "text": text}
        for _ in range(20):  # warm-up: connections, the worker's first fork, SQLite pages
            provider.complete(call)
            session.post(f"http://127.0.0.1:{port}/v1/fallback", json=body, headers={"X-API-Key": key}).raise_for_status()
        direct, gateway = [], []
        for _ in range(args.requests):
            started = time.perf_counter()
            provider.complete(call)
            direct.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            response = session.post(f"http://127.0.0.1:{port}/v1/fallback", json=body, headers={"X-API-Key": key})
            gateway.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.text
        d50, d99 = statistics.median(direct), percentile(direct, 0.99)
        g50, g99 = statistics.median(gateway), percentile(gateway, 0.99)
        print(f"direct provider call: median {d50:.2f} ms, p99 {d99:.2f} ms ({args.requests} calls)")
        print(f"POST /v1/fallback   : median {g50:.2f} ms, p99 {g99:.2f} ms")
        print(f"gateway overhead    : median {g50 - d50:.2f} ms, p99 {g99 - d99:.2f} ms "
              f"(target < 5 ms median: {'met' if g50 - d50 < 5 else 'NOT met'})")
    finally:
        for process in (server, fake):
            os.killpg(process.pid, signal.SIGINT)
        server.wait(timeout=60)
        fake.wait(timeout=10)


if __name__ == "__main__":
    main()
