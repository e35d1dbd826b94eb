"""``tiergate up``: everything on one machine — embedded Redis if needed, gunicorn, workers — supervised.

The supervisor owns its children, each in its own session so that a terminal's Ctrl-C reaches only
the supervisor, which then sends each child exactly one SIGTERM (a second signal would make RQ kill a
running job). A child that dies (a killed worker, a crashed web server, the embedded Redis) is started
again with backoff, and the log says why; the others keep serving. Ctrl-C (or SIGTERM) stops the web
server and workers first, so running jobs finish or are handed back, and the embedded Redis last,
after it has saved its data. No child outlives the supervisor: each is started with a death signal
(``app.execution.children``), so even a SIGKILLed supervisor takes them down with it.

One supervisor per data directory: it holds an exclusive lock on ``up.lock`` there for its whole life,
and a second ``tiergate up`` on the same directory, or on a port something already holds, stops at once
with a message instead of restarting a web server that cannot bind, for ever.
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable

import click
from sqlalchemy import func, select

from app.admin.keys import SCOPES, create_key
from app.cli import cli
from app.cli.common import cli_settings, record_data_dir
from app.execution.children import dies_with_parent
from app.execution.embedded_redis import EmbeddedRedis
from app.store import ApiKey, Store

# One gevent web process per core holds hundreds of requests each (a request waiting on a model is a
# greenlet, not a thread); one worker process holds hundreds of jobs. See bench/README.md.
DEFAULT_WEB_WORKERS = 2
DEFAULT_WORKERS = 1
DEFAULT_WORKER_CONNECTIONS = 1000
# gunicorn's gevent worker answering its own errors (414, 431) as JSON; started through
# ``python -m gevent.monkey`` so the standard library is patched before anything imports ssl.
WEB_WORKER_CLASS = "app.web.serve.TiergateGeventWorker"
GUNICORN = ["-m", "gevent.monkey", "--module", "gunicorn"]
STOP_TIMEOUT_SECONDS = 20.0
POLL_SECONDS = 0.5
# Restart backoff of a child that keeps dying: doubled each time up to the max, reset after it has run
# for RESTART_RESET_SECONDS.
RESTART_BACKOFF_SECONDS = 1.0
RESTART_BACKOFF_MAX_SECONDS = 30.0
RESTART_RESET_SECONDS = 60.0
LOCK_NAME = "up.lock"


@dataclass
class Child:
    """A supervised process: how to start it, and when it may be started again."""

    name: str
    start: Callable[[], subprocess.Popen]
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    backoff: float = RESTART_BACKOFF_SECONDS
    restart_at: float | None = None
    restarts: int = field(default=0)

    def launch(self) -> None:
        self.process, self.started_at, self.restart_at = self.start(), time.monotonic(), None

    def check(self) -> None:
        """Restart the child if it died, after its backoff."""
        now = time.monotonic()
        if self.process is not None and self.process.poll() is not None:
            code = self.process.returncode
            if now - self.started_at > RESTART_RESET_SECONDS:
                self.backoff = RESTART_BACKOFF_SECONDS
            self.restart_at = now + self.backoff
            click.echo(f"{self.name} exited ({_exit_reason(code)}); restarting in {self.backoff:.0f} s", err=True)
            self.backoff = min(self.backoff * 2, RESTART_BACKOFF_MAX_SECONDS)
            self.process = None
        if self.process is None and self.restart_at is not None and now >= self.restart_at:
            self.restarts += 1
            self.launch()
            click.echo(f"{self.name} restarted (pid {self.process.pid})", err=True)


@cli.command()
@click.option("--port", type=int, default=None, help="Port to serve on (default: PORT or 8080).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind; 0.0.0.0 for the LAN.")
@click.option("--workers", "worker_count", type=int, default=DEFAULT_WORKERS, show_default=True,
              help="Worker processes (each runs hundreds of jobs at once).")
@click.option("--web-workers", type=int, default=DEFAULT_WEB_WORKERS, show_default=True,
              help="gunicorn processes (each holds hundreds of requests at once).")
@click.option("--connections", type=int, default=DEFAULT_WORKER_CONNECTIONS, show_default=True,
              help="Open connections per web process.")
def up(port: int | None, host: str, worker_count: int, web_workers: int, connections: int) -> None:
    """Start Tiergate locally; Ctrl-C stops all of it."""
    first_start = not _secret_file_exists()
    settings = cli_settings(create=True)
    record_data_dir(settings)
    port = port or settings.port
    lock = _hold_data_dir(settings.data_dir.resolve())  # noqa: F841 (held until this process exits)
    _check_port_free(host, port)
    env = dict(os.environ, TIERGATE_DATA_DIR=str(settings.data_dir.resolve()))

    redis_server = None
    if not settings.redis_url:
        redis_server = EmbeddedRedis(settings.data_dir).start()
        env["REDIS_URL"] = redis_server.url
        click.echo(f"embedded Redis: {redis_server.url}")

    store = Store(settings.sqlalchemy_url)
    store.migrate()
    _first_start_key(store)
    store.dispose()
    if first_start and not os.environ.get("TIERGATE_CALLBACK_SECRET"):
        click.echo("callback signing secret (TIERGATE_CALLBACK_SECRET; shown once, verify callbacks with it): "
                   f"{settings.callback_secret}")
    if settings.dry_run:
        click.echo("no ANTHROPIC_API_KEY: dry-run provider, no model is called")

    metrics_dir = _metrics_dir(settings.data_dir.resolve())
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)

    def web() -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, *GUNICORN, "--bind", f"{host}:{port}", "--workers", str(web_workers),
             "--worker-class", WEB_WORKER_CLASS, "--worker-connections", str(connections), "--access-logfile", "-",
             "--graceful-timeout", str(int(STOP_TIMEOUT_SECONDS)), "app:create_app(migrate=False)"],
            env=env, start_new_session=True, preexec_fn=dies_with_parent())

    def worker() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "workers"], env=env, start_new_session=True,
                                preexec_fn=dies_with_parent())

    children = [Child("web server", web)] + [Child(f"worker {n + 1}", worker) for n in range(worker_count)]
    for child in children:
        child.launch()
    click.echo(f"Tiergate on http://{host}:{port} ({web_workers} web, {worker_count} worker); Ctrl-C to stop")

    stopping = False

    def _stop(_signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    redis_backoff, redis_restart_at = RESTART_BACKOFF_SECONDS, None
    try:
        while not stopping:
            if redis_server is not None and not redis_server.alive():
                if redis_restart_at is None:
                    click.echo(f"embedded Redis stopped; restarting in {redis_backoff:.0f} s", err=True)
                    redis_restart_at = time.monotonic() + redis_backoff
                elif time.monotonic() >= redis_restart_at:
                    try:
                        redis_server.start()
                        click.echo("embedded Redis restarted", err=True)
                        redis_backoff, redis_restart_at = RESTART_BACKOFF_SECONDS, None
                    except RuntimeError as exc:
                        redis_backoff = min(redis_backoff * 2, RESTART_BACKOFF_MAX_SECONDS)
                        redis_restart_at = time.monotonic() + redis_backoff
                        click.echo(f"embedded Redis did not start ({exc}); trying again in {redis_backoff:.0f} s",
                                   err=True)
            for child in children:
                child.check()
            time.sleep(POLL_SECONDS)
    finally:
        _stop_children([child.process for child in children if child.process is not None])
        if redis_server is not None:
            redis_server.stop()
        shutil.rmtree(metrics_dir, ignore_errors=True)
        click.echo("stopped")


def _hold_data_dir(data_dir: Path) -> IO[str]:
    """Lock the data directory for this supervisor's life (the kernel frees it however the process ends)."""
    lock = (data_dir / LOCK_NAME).open("a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "unknown"
        raise click.ClickException(f"another `tiergate up` (pid {holder}) is running on the data directory "
                                   f"{data_dir}; stop it first (Ctrl-C, or kill {holder})")
    lock.truncate(0)
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    return lock


def _check_port_free(host: str, port: int) -> None:
    """Refuse to start when the port is taken (an orphaned gunicorn, another server), as gunicorn binds it."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise click.ClickException(f"port {port} on {host} is already in use (a previous `tiergate up` still "
                                       f"running?); stop what holds it or choose another with --port") from None


def _metrics_dir(data_dir: Path) -> Path:
    """Where the web processes share their metrics (``app.metrics``). prometheus_client mmaps these
    files: on the data disk, a full disk killed every web process with SIGBUS. In memory (/dev/shm) where
    there is one, named after the data directory so a restart finds and clears its own."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return shm / f"tiergate-metrics-{os.getuid()}-{hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]}"
    return data_dir / "metrics"


def _secret_file_exists() -> bool:
    from app.config import load_settings

    return (load_settings().data_dir / "callback_secret").exists()


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def _first_start_key(store: Store) -> None:
    """On first start, create an admin key and print it once."""
    with store.session() as session:
        if session.scalar(select(func.count()).select_from(ApiKey)):
            return
        _key, plain = create_key(session, "admin (first start)", list(SCOPES))
    click.echo(f"first start: admin API key (shown once, store it now): {plain}")


def _stop_children(children: list[subprocess.Popen]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
