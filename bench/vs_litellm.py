"""Tiergate's /v1/fallback beside LiteLLM's proxy on the same fake model, same cores, interleaved rounds.

Both sit in front of one fake Messages API (its own process, answering at once, so what is measured is
each gateway's own cost). Tiergate: default ``tiergate up`` (2 web processes). LiteLLM: its proxy with
2 workers, ``/v1/chat/completions`` to ``anthropic/claude-sonnet-4-6`` with ``api_base`` at the fake.
LiteLLM is not a dependency of ours: install it in a separate venv first::

    python3 -m venv /tmp/litellm-venv && /tmp/litellm-venv/bin/pip install 'litellm[proxy]'

For each concurrency (closed loop, ``--seconds`` per round, rounds interleaved ``--rounds`` times):
added latency = median gateway latency - median direct latency (the same fake, called directly),
requests/s, and server CPU per request: user + system CPU of each server's whole process tree (Tiergate:
``tiergate up``, its gunicorn workers, RQ worker and embedded Redis; LiteLLM: its proxy and workers) over
the round, divided by the requests it answered. Tiergate is measured twice: ``/v1/fallback`` (the task
path) and ``/v1/chat/completions`` (the drop-in path, the same request LiteLLM serves). Fairness: one fake
for all, the same number of web processes (2), access logs off on both, rounds interleaved.
Targets (issue 24): server CPU per chat request <= 1/3 of LiteLLM's; req/s >= 2x at c=16, >= 3x at c=256.
Run: .venv/bin/python bench/vs_litellm.py [--litellm /tmp/litellm-venv/bin/litellm] [--concurrency 1 16 256]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Stack, free_port, wait_ready  # noqa: E402
from bench.loadgen import run_closed  # noqa: E402

TEXT = "Meeting notes: we agreed to ship the new price list on Friday."
MODEL = "claude-sonnet-4-6"
# LiteLLM refuses to start without one; both gateways then check a key on every request.
MASTER_KEY = "sk-bench-0123456789abcdef0123456789abcdef"
LITELLM_AUTH = {"Authorization": f"Bearer {MASTER_KEY}"}


def start_litellm(executable: str, fake_url: str, workdir: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    config = workdir / "litellm.yaml"
    config.write_text(f"""model_list:
  - model_name: {MODEL}
    litellm_params:
      model: anthropic/{MODEL}
      api_base: {fake_url}
      api_key: bench-key
general_settings:
  master_key: {MASTER_KEY}
""")
    process = subprocess.Popen([executable, "--config", str(config), "--port", str(port), "--num_workers", "2"],
                               stdout=(workdir / "litellm.log").open("w"), stderr=subprocess.STDOUT,
                               start_new_session=True, env={**os.environ, "LITELLM_LOG": "ERROR"})
    deadline = time.monotonic() + 180
    while True:
        try:
            answer = requests.post(f"http://127.0.0.1:{port}/v1/chat/completions", timeout=10, headers=LITELLM_AUTH, json={
                "model": MODEL, "messages": [{"role": "user", "content": TEXT}], "max_tokens": 200})
            if answer.status_code == 200:
                return process, port
        except requests.RequestException:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"LiteLLM did not start; see {workdir / 'litellm.log'}")
        time.sleep(1)


def closed(port: int, path: str, headers: dict, body: dict, connections: int, seconds: float):
    return asyncio.run(run_closed("127.0.0.1", port, path, headers, body, connections, seconds))


def tree_cpu_seconds(processes) -> float:
    """User + system CPU seconds of ``processes`` (a server's whole tree), with the CPU of their children
    that exited and were reaped: a worker that exits during a round (LiteLLM's proxy replaces some) moves
    its CPU to its parent's ``children_*`` times instead of taking it out of the sum (a round read
    negative CPU per request that way). Ones that exited themselves are skipped."""
    import psutil

    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def process_tree(pid: int):
    import psutil

    root = psutil.Process(pid)
    return [root] + root.children(recursive=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--litellm", default="/tmp/litellm-venv/bin/litellm")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 256])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with Stack() as stack:
        litellm, litellm_port = start_litellm(args.litellm, stack.fake_url, stack.data_dir)
        try:
            tiergate_port = int(stack.url.rsplit(":", 1)[1])
            fake_port = stack.fake_port
            direct_body = {"model": MODEL, "max_tokens": 200, "messages": [{"role": "user", "content": TEXT}]}
            chat_body = {"model": MODEL, "max_tokens": 200, "messages": [{"role": "user", "content": TEXT}]}
            targets = {
                "direct": (fake_port, "/v1/messages", {"x-api-key": "k", "anthropic-version": "2023-06-01"}, direct_body),
                "tiergate": (tiergate_port, "/v1/fallback", stack.headers, {"task_type": "summary", "text": TEXT}),
                "tiergate-chat": (tiergate_port, "/v1/chat/completions", stack.headers, chat_body),
                "litellm": (litellm_port, "/v1/chat/completions", LITELLM_AUTH, chat_body),
            }
            trees = {"direct": lambda: [], "tiergate": stack.up_processes, "tiergate-chat": stack.up_processes,
                     "litellm": lambda: process_tree(litellm.pid)}
            for name, (port, path, headers, body) in targets.items():  # warm-up
                closed(port, path, headers, body, 4, 2)
            figures = {(name, c): [] for name in targets for c in args.concurrency}
            for _round in range(args.rounds):
                for concurrency in args.concurrency:
                    for name, (port, path, headers, body) in targets.items():
                        tree = trees[name]()
                        cpu_before = tree_cpu_seconds(tree)
                        result = closed(port, path, headers, body, concurrency, args.seconds)
                        cpu_ms = (tree_cpu_seconds(tree) - cpu_before) * 1000 / max(1, len(result.latencies_ms))
                        figures[(name, concurrency)].append(
                            (statistics.median(result.latencies_ms), len(result.latencies_ms) / args.seconds,
                             result.errors, cpu_ms))
        finally:
            os.killpg(litellm.pid, signal.SIGTERM)
            litellm.wait(timeout=30)
    print(f"{args.rounds} interleaved rounds of {args.seconds:g} s each; medians over rounds; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'concurrency':>11} | {'Tiergate fallback CPU ms/req':>28} | {'Tiergate chat CPU ms/req':>24} | "
          f"{'LiteLLM chat CPU ms/req':>23} | {'CPU ratio chat':>14} | {'chat req/s T/L':>14}")
    for concurrency in args.concurrency:
        cpu = {name: statistics.median(r[3] for r in figures[(name, concurrency)])
               for name in ("tiergate", "tiergate-chat", "litellm")}
        rate = {name: statistics.median(r[1] for r in figures[(name, concurrency)]) for name in ("tiergate-chat", "litellm")}
        print(f"{concurrency:>11} | {cpu['tiergate']:>28.2f} | {cpu['tiergate-chat']:>24.2f} | {cpu['litellm']:>23.2f} | "
              f"{cpu['tiergate-chat'] / max(cpu['litellm'], 0.001):>13.2f}x | "
              f"{rate['tiergate-chat'] / max(rate['litellm'], 0.01):>13.2f}x")
    print(f"{'concurrency':>11} | {'direct ms':>9} | {'Tiergate added ms':>17} | {'LiteLLM added ms':>16} | "
          f"{'Tiergate req/s':>14} | {'LiteLLM req/s':>13} | {'latency ratio':>13} | {'req/s ratio':>11} | errors T/L")
    for concurrency in args.concurrency:
        direct = statistics.median(r[0] for r in figures[("direct", concurrency)])
        ours = figures[("tiergate", concurrency)]
        theirs = figures[("litellm", concurrency)]
        our_added = statistics.median(r[0] for r in ours) - direct
        their_added = statistics.median(r[0] for r in theirs) - direct
        our_rate = statistics.median(r[1] for r in ours)
        their_rate = statistics.median(r[1] for r in theirs)
        print(f"{concurrency:>11} | {direct:>9.2f} | {our_added:>17.2f} | {their_added:>16.2f} | {our_rate:>14.0f} | "
              f"{their_rate:>13.0f} | {their_added / max(our_added, 0.01):>12.1f}x | {our_rate / max(their_rate, 0.01):>10.2f}x"
              f" | {sum(r[2] for r in ours)}/{sum(r[2] for r in theirs)}")


if __name__ == "__main__":
    main()
