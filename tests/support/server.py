"""A real gunicorn web process for tests (the worker class ``tiergate up`` and the Procfile use)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import requests

from tests.support.worker import PROJECT_ROOT, settings_env

STARTUP_TIMEOUT_SECONDS = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class WebServer:
    """gunicorn serving ``app:create_app()`` with the test's settings, in a session of its own."""

    def __init__(self, settings, *, web_workers: int = 1, log_path=None):
        self.settings, self.web_workers, self.log_path = settings, web_workers, log_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> "WebServer":
        from app.cli.up import GUNICORN, WEB_WORKER_CLASS

        env = {**os.environ, **settings_env(self.settings), "PYTHONPATH": str(PROJECT_ROOT)}
        for name in ("REDIS_URL", "DATABASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"):
            if not getattr(self.settings, name.lower(), None):
                env.pop(name, None)
        out = open(self.log_path, "w") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [sys.executable, *GUNICORN, "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.web_workers),
             "--worker-class", WEB_WORKER_CLASS, "--worker-connections", "1000", "app:create_app(migrate=False)"],
            cwd=PROJECT_ROOT, env=env, start_new_session=True, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while True:
            try:
                if requests.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the test web server did not start")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL gunicorn and its workers: a machine losing power mid-request."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
