"""Rules-mode routing decision latency in process: p50/p99 over 100k decisions.

Target (docs/architecture.md, "Performance targets"): p99 under 0.5 ms. Run: .venv/bin/python bench/route_decision.py
"""
from __future__ import annotations

import argparse
import random
import statistics
import time

from app.policy import load_policy
from app.routing import RouteInput, RulesRouter

SAMPLE_TEXTS = [
    "Classify this lead as B2B or B2C: Müller Maschinenbau GmbH, orders 40 pallets a month",
    "Please summarize these meeting notes from the supplier call: " + "we agreed on prices. " * 40,
    "The customer wrote that the package arrived broken and wants a refund of $120. Draft a reply",
    "Extract the invoice number, date and total from this email text: Invoice 2024-118, 3 May, EUR 1,240",
    "Should we open a second shop or invest in the webshop? Weigh the trade-offs for a bakery",
    "hello, can you help me with something",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--decisions", type=int, default=100_000)
    args = parser.parse_args()

    router = RulesRouter(load_policy())
    rng = random.Random(7)
    inputs = [RouteInput(text=rng.choice(SAMPLE_TEXTS), task_type=rng.choice([None, None, "classification"]),
                         risk=rng.choice(["low", "low", "high"]), external=rng.random() < 0.2)
              for _ in range(1000)]
    for item in inputs:  # warm-up
        router.decide(item)
    timings = []
    for index in range(args.decisions):
        item = inputs[index % len(inputs)]
        started = time.perf_counter_ns()
        router.decide(item)
        timings.append(time.perf_counter_ns() - started)
    timings.sort()
    p50 = timings[len(timings) // 2] / 1e6
    p99 = timings[int(len(timings) * 0.99)] / 1e6
    print(f"rules-mode decision, {args.decisions} decisions in process: "
          f"p50 {p50:.3f} ms, p99 {p99:.3f} ms, mean {statistics.fmean(timings) / 1e6:.3f} ms "
          f"(target p99 < 0.5 ms: {'met' if p99 < 0.5 else 'NOT met'})")


if __name__ == "__main__":
    main()
