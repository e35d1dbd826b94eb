"""Hundreds of slow model calls in flight on default ``tiergate up``: wall time, latency, /v1/route meanwhile, memory.

A fake Messages API answers every call after ``--latency`` seconds (a real model takes 1-30 s).
1. ``--calls`` concurrent sync ``POST /v1/fallback`` (target: 400 calls to a 2 s model all answered 200
   in under 4 s wall; the ideal is 2 s), while a prober sends ``POST /v1/route`` one after another
   (target: p99 under 50 ms meanwhile).
2. ``--async-requests`` async requests with a callback each: time until the last callback, calls/s.
3. RSS of everything ``tiergate up`` started: idle, and at the peak of step 1.

Run: .venv/bin/python bench/inflight.py [--calls 400] [--latency 2] [--async-requests 2000]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Stack, percentile, summary  # noqa: E402
from tests.support.receiver import CallbackReceiver  # noqa: E402

BODY = {"task_type": "summary", "text": "Meeting notes: we agreed to ship the new price list on Friday."}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--latency", type=float, default=2.0)
    parser.add_argument("--async-requests", type=int, default=2000)
    args = parser.parse_args()
    receiver = CallbackReceiver()
    with Stack(latency=args.latency, env={"TIERGATE_CALLBACK_ALLOW_HOSTS": "127.0.0.1"}) as stack:
        with ThreadPoolExecutor(10) as pool:  # warm-up: connections, SQLite pages, the SDK's first call
            list(pool.map(lambda _: requests.post(stack.url + "/v1/fallback", json=BODY, headers=stack.headers,
                                                  timeout=60), range(10)))
        idle_mb = stack.rss_mb()
        sync_in_flight(stack, args, idle_mb)
        async_burst(stack, args, receiver)
    receiver.close()


def sync_in_flight(stack: Stack, args, idle_mb: float) -> None:
    route_ms: list[float] = []
    peak = {"mb": idle_mb}
    stop = threading.Event()

    def probe_route():
        session = requests.Session()
        while not stop.is_set():
            started = time.perf_counter()
            session.post(stack.url + "/v1/route", json=BODY, headers=stack.headers, timeout=30).raise_for_status()
            route_ms.append((time.perf_counter() - started) * 1000)
            time.sleep(0.01)

    def watch_memory():
        while not stop.is_set():
            peak["mb"] = max(peak["mb"], stack.rss_mb())
            time.sleep(0.25)

    def one(_n):
        started = time.perf_counter()
        try:
            answer = requests.post(stack.url + "/v1/fallback", json=BODY, headers=stack.headers, timeout=120)
            ok = answer.status_code == 200 and answer.json().get("status") == "done"
        except requests.RequestException:
            ok = False
        return ok, time.perf_counter() - started

    helpers = [threading.Thread(target=probe_route), threading.Thread(target=watch_memory)]
    for helper in helpers:
        helper.start()
    time.sleep(0.5)
    started = time.perf_counter()
    with ThreadPoolExecutor(args.calls) as pool:
        results = list(pool.map(one, range(args.calls)))
    wall = time.perf_counter() - started
    stop.set()
    for helper in helpers:
        helper.join()
    latencies = [seconds for _, seconds in results]
    errors = sum(1 for ok, _ in results if not ok)
    print(f"{args.calls} concurrent sync /v1/fallback, model latency {args.latency:g} s:")
    print(f"  wall {wall:.2f} s (ideal {args.latency:g} s, ratio {wall / args.latency:.2f}x; target < 4 s), "
          f"p50 {statistics.median(latencies):.2f} s, p99 {percentile(latencies, 0.99):.2f} s, errors {errors}")
    print(f"  /v1/route meanwhile: {len(route_ms)} calls, {summary(route_ms)} (target p99 < 50 ms)")
    print(f"  RSS of everything tiergate up started: idle {idle_mb:.0f} MB, peak {peak['mb']:.0f} MB")


def async_burst(stack: Stack, args, receiver: CallbackReceiver) -> None:
    body = {**BODY, "exec": "async", "callback_url": receiver.url + "/done?signature=bench"}

    def one(_n):
        return requests.post(stack.url + "/v1/fallback", json=body, headers=stack.headers, timeout=60).status_code

    started = time.perf_counter()
    with ThreadPoolExecutor(64) as pool:
        statuses = list(pool.map(one, range(args.async_requests)))
    accepted = time.perf_counter() - started
    receiver.wait(args.async_requests, timeout=600)
    finished = time.perf_counter() - started
    print(f"{args.async_requests} async requests: all accepted in {accepted:.2f} s "
          f"({sum(s == 202 for s in statuses)} x 202), last callback after {finished:.2f} s, "
          f"{args.async_requests / finished:.0f} model calls/s")


if __name__ == "__main__":
    main()
