"""Entry point of one RQ worker process (``python -m app.cli.worker``), used by ``tiergate up``.

In production the Procfile runs ``rq worker`` with the same worker class directly.
"""
from __future__ import annotations

from app.config import load_settings
from app.queue import connect, resolve_redis_url


def run_worker() -> None:
    from workers.worker import TiergateWorker

    settings = load_settings()
    connection = connect(resolve_redis_url(settings))
    TiergateWorker([settings.queue_name], connection=connection).work(with_scheduler=True)


if __name__ == "__main__":
    run_worker()
