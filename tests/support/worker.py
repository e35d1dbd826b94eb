"""A real RQ worker process for tests (the same entry point ``tiergate up`` starts)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from redis import Redis
from rq import Queue, Worker

STARTUP_TIMEOUT_SECONDS = 30.0
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def settings_env(settings) -> dict[str, str]:
    """Environment variables that give a worker process the same settings as the test's app."""
    env = {"TIERGATE_DATA_DIR": str(settings.data_dir), "TIERGATE_QUEUE": settings.queue_name,
           "TIERGATE_PROVIDER_MAX_RETRIES": str(settings.provider_max_retries),
           "TIERGATE_PROVIDER_TIMEOUT_SECONDS": str(settings.provider_timeout_seconds),
           "TIERGATE_CALLBACK_ALLOW_HOSTS": settings.callback_allow_hosts,
           "TIERGATE_COOLDOWN_SECONDS": str(settings.cooldown_seconds),
           "TIERGATE_COOLDOWN_FAILURES": str(settings.cooldown_failures),
           "TIERGATE_SYNC_WAIT_SECONDS": str(settings.sync_wait_seconds)}
    optional = {"REDIS_URL": settings.redis_url, "DATABASE_URL": settings.database_url,
                "ANTHROPIC_API_KEY": settings.anthropic_api_key, "ANTHROPIC_BASE_URL": settings.anthropic_base_url,
                "TIERGATE_CALLBACK_SECRET": settings.callback_secret, "TIERGATE_SECRET_KEY": settings.secret_key,
                "TIERGATE_NOTIFY_WEBHOOK_URL": settings.notify_webhook_url, "TIERGATE_NOTIFY_EMAIL": settings.notify_email,
                "TIERGATE_NOTIFY_TASK_TYPES": settings.notify_task_types, "TIERGATE_SMTP_HOST": settings.smtp_host}
    if settings.smtp_host:
        optional.update(TIERGATE_SMTP_PORT=settings.smtp_port, TIERGATE_SMTP_FROM=settings.smtp_from)
    env.update({name: str(value) for name, value in optional.items() if value})
    return env


class WorkerProcess:
    """``python -m workers`` in a session of its own, stopped with the signals an operator sends."""

    def __init__(self, settings, redis: Redis, log_path=None):
        self.settings, self.redis, self.log_path = settings, redis, log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> "WorkerProcess":
        env = {**os.environ, **settings_env(self.settings), "PYTHONPATH": str(PROJECT_ROOT)}
        for name in ("REDIS_URL", "DATABASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"):
            if not getattr(self.settings, name.lower(), None):
                env.pop(name, None)
        before = {w.name for w in self.workers()}
        out = open(self.log_path, "a") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen([sys.executable, "-m", "workers"], cwd=PROJECT_ROOT, env=env,
                                        start_new_session=True, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not ({w.name for w in self.workers()} - before):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the test worker did not start")
            time.sleep(0.05)
        return self

    def workers(self) -> list[Worker]:
        return Worker.all(queue=Queue(self.settings.queue_name, connection=self.redis))

    def kill(self) -> None:
        """SIGKILL the worker and its work horse: no cleanup, like a machine losing power.

        RQ puts the horse in a session of its own, so it is found as a child, not by process group.
        """
        import psutil

        family = [psutil.Process(self.process.pid)] + psutil.Process(self.process.pid).children(recursive=True)
        for member in family:
            try:
                member.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(family, timeout=10)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
