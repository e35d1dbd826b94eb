"""A burst of sync arrivals on default ``tiergate up``: does ``/v1/route`` (and ``/healthz``) still answer at once?

``--calls`` sync ``POST /v1/fallback`` are written on connections opened beforehand, all in the same
instant, against a fake model that answers after ``--latency`` seconds; meanwhile one prober sends
``POST /v1/route`` and another ``GET /healthz`` one after the other (a pause of ``--probe-gap-ms``).
Prints, per round, the probes' max and p99 while the burst is in the server (from the first write to
the last answer), the burst's wall time and errors. Issue 24's rows: with 200 calls, route max < 50 ms;
with 400, route p99 < 20 ms. The probes that run while the burst's intake is under way are the ones
that count; one round is a handful of them, hence ``--rounds``.

Run: .venv/bin/python bench/burst.py [--calls 200] [--latency 2] [--rounds 5]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Stack, percentile  # noqa: E402
from bench.loadgen import _exchange, _request_bytes  # noqa: E402

BODY = {"task_type": "summary", "text": "Meeting notes: we agreed to ship the new price list on Friday."}
ROUTE_BODY = {"task_type": "classification", "text": "Acme GmbH orders 40 pallets a month. B2B or B2C?"}


async def one_round(port: int, headers: dict[str, str], calls: int, gap_s: float) -> dict:
    host = "127.0.0.1"
    fallback = _request_bytes(host, port, "/v1/fallback", headers, BODY)
    route = _request_bytes(host, port, "/v1/route", headers, ROUTE_BODY)
    health = f"GET /healthz HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    connections = [await asyncio.open_connection(host, port) for _ in range(calls)]
    samples: dict[str, list[tuple[float, float]]] = {"route": [], "health": []}
    stop = asyncio.Event()

    async def probe(name: str, request: bytes) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        while not stop.is_set():
            started = time.perf_counter()
            status = await _exchange(reader, writer, request)
            if status != 200:
                raise RuntimeError(f"{name} answered {status}")
            samples[name].append((started, (time.perf_counter() - started) * 1000))
            await asyncio.sleep(gap_s)
        writer.close()

    async def call(reader, writer) -> int:
        status = await _exchange(reader, writer, fallback)
        writer.close()
        return status

    probers = [asyncio.create_task(probe("route", route)), asyncio.create_task(probe("health", health))]
    await asyncio.sleep(0.3)
    started = time.perf_counter()
    statuses = await asyncio.gather(*(call(reader, writer) for reader, writer in connections), return_exceptions=True)
    ended = time.perf_counter()
    stop.set()
    await asyncio.gather(*probers)
    during = {name: [ms for at, ms in values if started <= at <= ended] for name, values in samples.items()}
    return {"wall": ended - started, "errors": sum(1 for s in statuses if s != 200), **during}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--latency", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--probe-gap-ms", type=float, default=5.0)
    parser.add_argument("--database-url", help="e.g. PostgreSQL; default: SQLite in a temp data dir")
    parser.add_argument("--redis-url", help="an external Redis (e.g. with --database-url); default: tiergate up's "
                                            "embedded one")
    args = parser.parse_args()
    env = {"DATABASE_URL": args.database_url} if args.database_url else {}
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url
    with Stack(latency=args.latency, env=env) as stack:
        port = urlsplit(stack.url).port
        asyncio.run(one_round(port, stack.headers, 20, args.probe_gap_ms / 1000))  # warm-up
        rounds = []
        for _ in range(args.rounds):
            rounds.append(asyncio.run(one_round(port, stack.headers, args.calls, args.probe_gap_ms / 1000)))
            time.sleep(0.5)
    print(f"{args.calls} sync /v1/fallback at once, model latency {args.latency:g} s, {args.rounds} rounds; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for index, result in enumerate(rounds, start=1):
        route, health = result["route"], result["health"]
        print(f"  round {index}: wall {result['wall']:.2f} s, errors {result['errors']}; /v1/route {len(route)} probes "
              f"max {max(route, default=float('nan')):.1f} ms p99 {percentile(route, 0.99):.1f} ms; /healthz "
              f"{len(health)} probes max {max(health, default=float('nan')):.1f} ms")
    route_all = [ms for result in rounds for ms in result["route"]]
    health_all = [ms for result in rounds for ms in result["health"]]
    print(f"  all rounds: /v1/route {len(route_all)} probes, median of the rounds' max "
          f"{statistics.median(max(r['route'], default=0) for r in rounds):.1f} ms, p50 "
          f"{statistics.median(route_all):.1f} ms, p99 {percentile(route_all, 0.99):.1f} ms, max {max(route_all):.1f} ms; "
          f"/healthz max {max(health_all):.1f} ms; wall median {statistics.median(r['wall'] for r in rounds):.2f} s")


if __name__ == "__main__":
    main()
