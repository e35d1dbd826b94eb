"""/v1/route over HTTP on default ``tiergate up`` at a fixed offered load, measured from a separate process.

Starts ``tiergate up`` (embedded Redis unless ``--redis-url``, SQLite unless ``--database-url``, gevent web
processes) in a temp data dir, then offers ``--rate`` requests/s for ``--seconds`` from this process over
loopback (open loop, ``loadgen.py``) and prints p50/p99 and errors. Target (issue 24): p99 under 5 ms at
500 requests/s on 2 cores, on SQLite and on PostgreSQL.
Run: .venv/bin/python bench/route_http.py [--rate 500] [--seconds 30]
     [--database-url postgresql://... --redis-url redis://...]
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Stack  # noqa: E402
from bench.loadgen import run_load  # noqa: E402

BODY = {"task_type": "classification", "text": "Acme GmbH orders 40 pallets a month. B2B or B2C?",
        "metadata": {"row": 1}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--web-workers", type=int, default=None, help="default: tiergate up's default")
    parser.add_argument("--database-url", help="e.g. PostgreSQL; default: SQLite in a temp data dir")
    parser.add_argument("--redis-url", help="an external Redis (e.g. with --database-url); default: tiergate up's "
                                            "embedded one")
    args = parser.parse_args()
    env = {"DATABASE_URL": args.database_url} if args.database_url else {}
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url
    up_args = ["--web-workers", str(args.web_workers)] if args.web_workers else []
    with Stack(up_args=up_args, env=env) as stack:
        port = urlsplit(stack.url).port
        asyncio.run(run_load("127.0.0.1", port, "/v1/route", stack.headers, BODY, rate=50, seconds=2))  # warm-up
        result = asyncio.run(run_load("127.0.0.1", port, "/v1/route", stack.headers, BODY, rate=args.rate,
                                      seconds=args.seconds))
    p50, p99 = result.percentile(0.5), result.percentile(0.99)
    store = "PostgreSQL" if args.database_url else "SQLite"
    print(f"/v1/route over HTTP ({store}), offered {args.rate:.0f} req/s for {args.seconds:.0f} s: sent {result.sent}, "
          f"answered {len(result.latencies_ms)}, errors {result.errors}, p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
          f"statuses {result.statuses} (target p99 < 5 ms: {'met' if p99 < 5 else 'NOT met'})")


if __name__ == "__main__":
    main()
