"""Where a request's server CPU goes: py-spy over ``tiergate up``'s web processes under a steady load.

Starts the fake Messages API and default ``tiergate up`` (``bench.harness.Stack``), sends a closed-loop
load (``--connections``, ``--seconds``) to one endpoint, and samples every process of the tree with
py-spy at the same time (only samples holding the GIL, i.e. running Python). Prints the CPU per request (the tree's user + system
CPU over the run), then the share of samples by area (the first frame of ours or of a library, counted
from the innermost frame out), the top functions by own time, and the top functions of ours counted with
the library work below them (what each of our steps costs: the ledger write, the budget look-up...). Used for issue 24 ("a lean hot path"):
the areas are what the issue's table names.

py-spy is not a dependency: ``.venv/bin/pip install py-spy``; it needs ptrace (root or
``kernel.yama.ptrace_scope=0``).
Run: .venv/bin/python bench/profile_web.py [--endpoint fallback|chat] [--seconds 20] [--connections 4]
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Stack  # noqa: E402
from bench.loadgen import run_closed  # noqa: E402
from bench.vs_litellm import MODEL, TEXT, tree_cpu_seconds  # noqa: E402

# Areas, by a path fragment of the innermost frame that matches one (checked in this order).
AREAS = [
    ("sqlalchemy / sqlite / psycopg", ("sqlalchemy", "sqlite3", "psycopg")),
    ("budgets", ("app/money/",)),
    ("store and ledger (ours)", ("app/store/", "app/reports/")),
    ("provider SDK (anthropic, openai, httpx, pydantic)", ("anthropic/", "openai/", "httpx", "httpcore", "pydantic",
                                                         "geventhttpclient", "app/providers/transport.py",
                                                         "app/providers/messages_call.py")),
    ("redis / rq", ("redis/", "/rq/")),
    ("flask / werkzeug", ("flask/", "werkzeug/")),
    ("gunicorn", ("gunicorn/",)),
    ("gevent", ("gevent/", "greenlet")),
    ("json", ("json/", "orjson")),
    ("logging", ("logging/",)),
    ("prometheus", ("prometheus_client",)),
    ("tiergate: tasks, calls, cascade, gates", ("app/tasks/", "app/calls/", "app/cascade/", "app/gates/")),
    ("tiergate: gateway", ("app/gateway/",)),
    ("tiergate: routing, policy, pricing", ("app/routing/", "app/policy/", "app/pricing")),
    ("tiergate: web, api, execution", ("app/web/", "app/api/", "app/execution/")),
]


def area_of(frames: list[str]) -> str:
    """The area of the innermost frame that belongs to one (frames innermost first)."""
    for frame in frames:
        for name, fragments in AREAS:
            if any(fragment in frame for fragment in fragments):
                return name
    return "other (stdlib, interpreter)"


def read_samples(path: Path) -> list[tuple[list[str], int]]:
    """py-spy's raw (collapsed) output: ``frame;frame;... count``, outermost frame first."""
    samples = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack:
            samples.append((list(reversed(stack.split(";"))), int(count)))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--endpoint", choices=["fallback", "chat"], default="fallback")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out = Path(tempfile.mkdtemp(prefix="tiergate-profile-")) / "samples.txt"
    with Stack() as stack:
        port = int(stack.url.rsplit(":", 1)[1])
        if args.endpoint == "fallback":
            path, body = "/v1/fallback", {"task_type": "summary", "text": TEXT}
        else:
            path, body = "/v1/chat/completions", {"model": MODEL, "max_tokens": 200,
                                                  "messages": [{"role": "user", "content": TEXT}]}
        asyncio.run(run_closed("127.0.0.1", port, path, stack.headers, body, max(4, args.connections), 5))  # warm-up: every web process loads its weights
        tree = stack.up_processes()
        spy = subprocess.Popen([py_spy, "record", "--pid", str(stack.up.pid), "--subprocesses", "--format", "raw",
                                "--rate", "250", "--gil", "--duration", str(int(args.seconds) + 2), "--output", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        cpu_before = tree_cpu_seconds(tree)
        result = asyncio.run(run_closed("127.0.0.1", port, path, stack.headers, body, args.connections, args.seconds))
        cpu_ms = (tree_cpu_seconds(tree) - cpu_before) * 1000 / max(1, len(result.latencies_ms))
        spy.wait(timeout=args.seconds + 60)
    samples = read_samples(out)
    total = sum(count for _, count in samples) or 1
    by_area: collections.Counter[str] = collections.Counter()
    by_function: collections.Counter[str] = collections.Counter()
    by_caller: collections.Counter[str] = collections.Counter()
    for frames, count in samples:
        by_area[area_of(frames)] += count
        by_function[frames[0]] += count
        by_caller[next((frame for frame in frames if "(app/" in frame or "(workers/" in frame), "(not under our code)")] += count
    print(f"POST {path}: {len(result.latencies_ms)} requests in {args.seconds:g} s at {args.connections} connections, "
          f"{result.errors} errors; server CPU {cpu_ms:.2f} ms per request; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"\n{'share':>6}  area ({total} busy samples)")
    for name, count in by_area.most_common():
        print(f"{100 * count / total:>5.1f}%  {name}")
    print(f"\n{'share':>6}  top {args.top} functions by own time")
    for name, count in by_function.most_common(args.top):
        print(f"{100 * count / total:>5.1f}%  {name}")
    print(f"\n{'share':>6}  top {args.top} of our functions, by the time spent in them and below them in libraries")
    for name, count in by_caller.most_common(args.top):
        print(f"{100 * count / total:>5.1f}%  {name}")


if __name__ == "__main__":
    main()
