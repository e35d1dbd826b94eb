"""Enqueue-to-start latency of an RQ job with an idle Tiergate worker, median and p99.

Starts an embedded Redis and one worker process (``python -m workers``, the worker ``tiergate
up`` runs: it forks a work horse per job) in a temp data dir, then enqueues a trivial job
(``time.time``) N times, one at a time. Latency = the time the job started (its return value) minus
the time just before ``enqueue``; RQ's own ``started_at - enqueued_at`` is printed alongside.
Target (docs/architecture.md, "Performance targets"): under 10 ms median.
Run: .venv/bin/python bench/queue_latency.py [--jobs 200]
"""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=200)
    args = parser.parse_args()
    from rq import Queue, Worker

    from app.execution.embedded_redis import EmbeddedRedis
    from app.execution.queue import connect

    from app.config import load_settings
    from app.store import Store

    data_dir = Path(tempfile.mkdtemp(prefix="tiergate-bench-queue-"))
    store = Store(load_settings(TIERGATE_DATA_DIR=data_dir).sqlalchemy_url)
    store.migrate()  # the worker builds the app at start, and the app reads the stored policy
    store.dispose()
    redis_server = EmbeddedRedis(data_dir).start()
    redis = connect(redis_server.url)
    queue = Queue("tiergate", connection=redis)
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(TIERGATE_DATA_DIR=str(data_dir), REDIS_URL=redis_server.url, PYTHONPATH=str(ROOT))
    log = (data_dir / "worker.log").open("w")
    worker = subprocess.Popen([sys.executable, "-m", "workers"], cwd=ROOT, env=env, start_new_session=True,
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not Worker.all(queue=queue):
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start; see {log.name}")
            time.sleep(0.05)
        ours, rqs = [], []
        for index in range(args.jobs + 10):
            time.sleep(0.02)  # the worker is idle, waiting on the queue, when the job arrives
            before = time.time()
            job = queue.enqueue("time.time", result_ttl=60)
            while job.get_status(refresh=True) != "finished":
                time.sleep(0.001)
            if index >= 10:  # skip warm-up
                ours.append((job.return_value() - before) * 1000)
                job.refresh()
                if job.started_at and job.enqueued_at:
                    rqs.append((job.started_at - job.enqueued_at).total_seconds() * 1000)
        print(f"enqueue -> job start, idle worker, {args.jobs} jobs: median {statistics.median(ours):.2f} ms, "
              f"p99 {percentile(ours, 0.99):.2f} ms (RQ's started_at - enqueued_at: median "
              f"{statistics.median(rqs) if rqs else float('nan'):.2f} ms) (target < 10 ms median: "
              f"{'met' if statistics.median(ours) < 10 else 'NOT met'})")
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=30)
        redis_server.stop()


if __name__ == "__main__":
    main()
