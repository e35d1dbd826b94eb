"""/v1/route over HTTP on gunicorn at a fixed offered load, measured from a separate process.

Starts ``tiergate up`` (embedded Redis, SQLite, 2 gunicorn workers) in a temp data dir, creates a key,
then offers 500 requests/s for 30 s from this process over loopback and prints p50/p99 and errors.
Target (PRODUCT.md section 10): p99 under 10 ms at 500 requests/s on 2 cores.
Run: .venv/bin/python bench/route_http.py [--rate 500] [--seconds 30]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import run_load  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn process")
    parser.add_argument("--database-url", help="e.g. PostgreSQL; default: SQLite in a temp data dir")
    parser.add_argument("--redis-url", help="default: the embedded Redis")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="tiergate-bench-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env["TIERGATE_DATA_DIR"] = str(data_dir)
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url
    log = data_dir / "up.log"
    server = subprocess.Popen([sys.executable, "-m", "app.cli", "up", "--port", str(port), "--workers", "1",
                               "--web-workers", str(args.web_workers), "--threads", str(args.threads)], env=env, stdout=log.open("w"),
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        for _ in range(200):
            try:
                if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).ok:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        key = subprocess.run([sys.executable, "-m", "app.cli", "keys", "create", "--name", "bench", "--scopes", "route",
                              "--quiet"], env=env, capture_output=True, text=True, check=True).stdout.strip()
        body = {"task_type": "classification", "text": "Acme GmbH orders 40 pallets a month. B2B or B2C?",
                "metadata": {"row": 1}}
        headers = {"X-API-Key": key}
        asyncio.run(run_load("127.0.0.1", port, "/v1/route", headers, body, rate=50, seconds=2))  # warm-up
        result = asyncio.run(run_load("127.0.0.1", port, "/v1/route", headers, body, rate=args.rate,
                                      seconds=args.seconds))
        p50, p99 = result.percentile(0.5), result.percentile(0.99)
        store = "PostgreSQL" if args.database_url else "SQLite"
        print(f"/v1/route over HTTP ({store}), gunicorn {args.web_workers}x{args.threads} threads, offered {args.rate:.0f} req/s for "
              f"{args.seconds:.0f} s: sent {result.sent}, answered {len(result.latencies_ms)}, errors {result.errors}, "
              f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, statuses {result.statuses} "
              f"(target p99 < 10 ms: {'met' if p99 < 10 else 'NOT met'})")
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)


if __name__ == "__main__":
    main()
