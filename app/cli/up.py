"""``tiergate up``: everything on one machine — embedded Redis if needed, gunicorn, RQ workers.

The supervisor owns its children, each in its own session so that a terminal's Ctrl-C reaches only
the supervisor, which then sends each child exactly one SIGTERM (a second signal would make RQ kill a
running job): Ctrl-C (or SIGTERM) stops the web server and workers first, so
running jobs finish or are requeued, and the embedded Redis last, after it has saved its data.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import click
from sqlalchemy import func, select

from app.auth import SCOPES, create_key
from app.cli import cli
from app.cli.common import cli_settings
from app.embedded_redis import EmbeddedRedis
from app.store import ApiKey, Store

# Threads per gunicorn process: enough for sync requests that wait on a job (up to
# TIERGATE_SYNC_WAIT_SECONDS) without blocking the rest; more made /v1/route's tail worse under load
# on 2 cores (GIL contention, concurrent SQLite writers): bench/route_http.py, see bench/README.md.
DEFAULT_GUNICORN_THREADS = 4
STOP_TIMEOUT_SECONDS = 20.0
POLL_SECONDS = 0.5


@cli.command()
@click.option("--port", type=int, default=None, help="Port to serve on (default: PORT or 8080).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind; 0.0.0.0 for the LAN.")
@click.option("--workers", "worker_count", type=int, default=1, show_default=True, help="RQ worker processes.")
@click.option("--web-workers", type=int, default=2, show_default=True, help="gunicorn worker processes.")
@click.option("--threads", type=int, default=DEFAULT_GUNICORN_THREADS, show_default=True,
              help="Threads per gunicorn process (each sync request holds one while it waits).")
def up(port: int | None, host: str, worker_count: int, web_workers: int, threads: int) -> None:
    """Start Tiergate locally; Ctrl-C stops all of it."""
    settings = cli_settings()
    port = port or settings.port
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
    if not os.environ.get("TIERGATE_CALLBACK_SECRET"):
        click.echo(f"callback signing secret (TIERGATE_CALLBACK_SECRET, verify callbacks with it): {settings.callback_secret}")
    if settings.dry_run:
        click.echo("no ANTHROPIC_API_KEY: dry-run provider, no model is called")

    metrics_dir = settings.data_dir.resolve() / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)

    children: list[subprocess.Popen] = [subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"{host}:{port}", "--workers", str(web_workers),
         "--worker-class", "gthread", "--threads", str(threads), "--access-logfile", "-",
         "--graceful-timeout", str(int(STOP_TIMEOUT_SECONDS)), "app:create_app(migrate=False)"], env=env, start_new_session=True)]
    for _ in range(worker_count):
        children.append(subprocess.Popen([sys.executable, "-m", "app.cli.worker"], env=env, start_new_session=True))
    click.echo(f"Tiergate on http://{host}:{port} ({web_workers} web, {worker_count} worker); Ctrl-C to stop")

    stopping = False

    def _stop(_signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        while not stopping:
            if any(child.poll() is not None for child in children):
                click.echo("a child process exited; stopping everything", err=True)
                break
            time.sleep(POLL_SECONDS)
    finally:
        _stop_children(children)
        if redis_server is not None:
            redis_server.stop()
        click.echo("stopped")


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
            child.kill()
            child.wait()
