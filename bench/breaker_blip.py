"""A short 529 blip: how long after the provider recovered does the model answer again?

Twenty callers share one circuit breaker (on the Redis at ``--redis``) and call the fake Messages API
through the real SDK (two retries, as shipped) while the fake answers 529 for ``--blip`` seconds;
callers wait while the circuit is open, as the cascade does. Prints the seconds from recovery to the
first and the last answer. Target: a few seconds (the 5 s open window), not the 30 s maximum.
Run: .venv/bin/python bench/breaker_blip.py [--redis redis://127.0.0.1:6379/10] [--blip 3]
"""
from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from redis import Redis  # noqa: E402

from app.calls.guarded import Guards  # noqa: E402
from app.policy import load_policy  # noqa: E402
from app.providers import AnthropicProvider, CircuitBreaker  # noqa: E402
from tests.support.fake_anthropic import FakeAnthropic  # noqa: E402
from tests.test_breaker_blip import _caller  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/10")
    parser.add_argument("--blip", type=float, default=3.0)
    parser.add_argument("--callers", type=int, default=20)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    redis = Redis.from_url(args.redis)
    redis.delete(*redis.keys("bench:breaker:*") or ["-"])
    with FakeAnthropic() as fake:
        guards = Guards(load_policy().prices, breaker=CircuitBreaker(redis, 3, 5.0, prefix="bench:breaker"))
        provider = AnthropicProvider("bench-key", fake.url, timeout=10, max_retries=2)
        fake.outage(args.blip)
        recovered = time.monotonic() + args.blip
        answers: list[float] = []
        callers = [threading.Thread(target=_caller, args=(guards, provider, recovered + 60, answers))
                   for _ in range(args.callers)]
        for thread in callers:
            thread.start()
        for thread in callers:
            thread.join()
    print(f"{len(answers)}/{args.callers} callers answered; first answer {min(answers) - recovered:.1f} s "
          f"after recovery, last {max(answers) - recovered:.1f} s")


if __name__ == "__main__":
    main()
