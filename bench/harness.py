"""What the benchmarks share: a fake Messages API and ``tiergate up`` in processes of their own.

``Stack`` starts the fake (``tests.support.fake_anthropic``, optionally answering after a fixed delay
like a real model) and ``tiergate up`` with its defaults in a temporary data directory pointed at it,
reads the admin key it prints, and stops both (and everything they started) on exit.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
KEY_PATTERN = re.compile(r"admin API key \(shown once, store it now\): (tg_\S+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else float("nan")


def summary(values_ms: list[float]) -> str:
    return f"p50 {statistics.median(values_ms):.2f} ms, p99 {percentile(values_ms, 0.99):.2f} ms"


def wait_ready(url: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


class Stack:
    """The fake model and ``tiergate up`` (defaults unless ``up_args`` say otherwise)."""

    def __init__(self, *, latency: float = 0.0, up_args: list[str] | None = None, env: dict[str, str] | None = None):
        self.data_dir = Path(tempfile.mkdtemp(prefix="tiergate-bench-"))
        self.fake_port, self.port = free_port(), free_port()
        self.fake_url, self.url = f"http://127.0.0.1:{self.fake_port}", f"http://127.0.0.1:{self.port}"
        self.latency, self.up_args, self.extra_env = latency, up_args or [], env or {}
        self.processes: list[subprocess.Popen] = []
        self.key = ""

    def __enter__(self) -> "Stack":
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
        env.update(TIERGATE_DATA_DIR=str(self.data_dir), ANTHROPIC_API_KEY="bench-key", ANTHROPIC_BASE_URL=self.fake_url,
                   PYTHONPATH=str(ROOT), **self.extra_env)
        self.processes.append(subprocess.Popen(
            [sys.executable, "-m", "tests.support.fake_anthropic", "--port", str(self.fake_port),
             "--latency", str(self.latency)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, start_new_session=True))
        self.log = self.data_dir / "up.log"
        self.up = subprocess.Popen([sys.executable, "-m", "app.cli", "up", "--port", str(self.port), *self.up_args],
                                   cwd=ROOT, env=env, stdout=self.log.open("w"), stderr=subprocess.STDOUT,
                                   start_new_session=True)
        self.processes.append(self.up)
        wait_ready(f"{self.url}/readyz")
        self.key = KEY_PATTERN.search(self.log.read_text()).group(1)
        return self

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.key}

    def up_processes(self):
        """``tiergate up`` and every process it started (for CPU and memory figures)."""
        import psutil

        root = psutil.Process(self.up.pid)
        return [root] + root.children(recursive=True)

    def rss_mb(self) -> float:
        return sum(p.memory_info().rss for p in self.up_processes()) / 2**20

    def __exit__(self, *_exc) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGINT)
        for process in reversed(self.processes):
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
