"""/v1/classify of long lists: time and Tiergate CPU per row at 3,000 and 30,000 rows (does it grow linearly?).

Default ``tiergate up`` against the fake Messages API answering at once; each list is sent async, and
the job polled until done. CPU is the user+system time of every process ``tiergate up`` started (web,
worker, embedded Redis), so it is Tiergate's own cost, not the fake's. Targets: 30,000 rows in no more
than 12x the time of 3,000 (linear growth), under 0.3 ms of Tiergate CPU per row.
Run: .venv/bin/python bench/classify_scale.py [--sizes 3000 30000]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Stack  # noqa: E402

LABELS = ["B2B", "B2C", "Unsure"]
ROWS = ["{n}: Acme {n} GmbH, B2B wholesale order", "{n}: gift for my son, B2C", "{n}: enquiry via web form"]


def cpu_seconds(stack: Stack) -> float:
    total = 0.0
    for process in stack.up_processes():
        try:
            times = process.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
        except Exception:  # a process that ended meanwhile
            pass
    return total


def run_list(stack: Stack, size: int) -> tuple[float, float]:
    items = [{"lead_id": f"L{n:06d}", "company": ROWS[n % 3].format(n=n)} for n in range(size)]
    before = cpu_seconds(stack)
    started = time.perf_counter()
    answer = requests.post(f"{stack.url}/v1/classify", headers=stack.headers, timeout=120, json={
        "items": items, "text_field": "company", "id_field": "lead_id", "labels": LABELS, "exec": "async"})
    answer.raise_for_status()
    job_url = f"{stack.url}/v1/jobs/{answer.json()['job_id']}"
    while True:
        job = requests.get(job_url, headers=stack.headers, timeout=60).json()
        if job["status"] in ("done", "needs_review", "failed"):
            break
        time.sleep(0.25)
    elapsed = time.perf_counter() - started
    assert len(job["result"]["results"]) == size, job["status"]
    return elapsed, cpu_seconds(stack) - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[3000, 30000])
    args = parser.parse_args()
    with Stack() as stack:
        run_list(stack, 100)  # warm-up
        figures = {size: run_list(stack, size) for size in args.sizes}
    for size, (elapsed, cpu) in figures.items():
        print(f"{size:>6} rows: {elapsed:.1f} s, Tiergate CPU {cpu:.1f} s = {cpu / size * 1000:.3f} ms per row "
              f"(target < 0.3 ms)")
    if len(args.sizes) >= 2:
        small, large = args.sizes[0], args.sizes[-1]
        ratio = figures[large][0] / figures[small][0]
        print(f"time ratio {large}/{small} rows: {ratio:.1f}x for {large / small:.0f}x the rows "
              f"(target <= 12x: {'met' if ratio <= 12 else 'NOT met'})")


if __name__ == "__main__":
    main()
