"""The client CPU of one provider call: ``AnthropicProvider.complete`` against the fake Messages API.

Starts the fake (``tests.support.fake_anthropic``) in a process of its own, patches this process with
gevent as ``tiergate up``'s web workers are, and times ``--calls`` sequential non-streaming calls on one
provider object (one connection, reused). Prints this process's CPU per call (user + system, so the
fake's work is not counted) and, with ``--profile``, the top functions by own time under cProfile.
Used for issue 24: the provider call was a quarter of a proxied request's server CPU.

Run: .venv/bin/python bench/provider_call.py [--calls 2000] [--rounds 3] [--profile]
"""
from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import cProfile  # noqa: E402
import os  # noqa: E402
import pstats  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import free_port  # noqa: E402
from bench.vs_litellm import MODEL, TEXT  # noqa: E402


def wait_listening(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--sort", default="tottime", help="cProfile order: tottime or cumulative")
    args = parser.parse_args()

    from app.providers import AnthropicProvider, ModelCall

    port = free_port()
    fake = subprocess.Popen([sys.executable, "-m", "tests.support.fake_anthropic", "--port", str(port)], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL)
    try:
        wait_listening(port)
        provider = AnthropicProvider("bench-key", f"http://127.0.0.1:{port}", timeout=30, max_retries=2)
        call = ModelCall(model=MODEL, messages=[{"role": "user", "content": TEXT}], max_tokens=200,
                         cached_system="You summarise support tickets.", system="Keep it short.")
        for _ in range(50):
            provider.complete(call)
        per_call = []
        for _ in range(args.rounds):
            cpu = time.process_time()
            for _ in range(args.calls):
                provider.complete(call)
            per_call.append((time.process_time() - cpu) * 1000 / args.calls)
        print(f"AnthropicProvider.complete: client CPU {statistics.median(per_call):.3f} ms per call "
              f"(rounds: {', '.join(f'{x:.3f}' for x in per_call)}); "
              f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        if args.profile:
            profiler = cProfile.Profile(time.process_time)  # CPU, not wall time: waits are not cost
            profiler.enable()
            for _ in range(args.calls):
                provider.complete(call)
            profiler.disable()
            pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.top)
    finally:
        fake.terminate()
        fake.wait(timeout=10)


if __name__ == "__main__":
    main()
