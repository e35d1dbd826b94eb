"""The Redis connection and the RQ queue, registered on the app.

Jobs are enqueued by dotted path (``workers.jobs.run_fallback``) so the web process never imports
worker code.
"""
from __future__ import annotations

from flask import Flask, current_app
from redis import Redis
from rq import Queue

from app.config import Settings
from app.embedded_redis import EmbeddedRedis


def resolve_redis_url(settings: Settings) -> str:
    """REDIS_URL when set; else the embedded server of the data directory, started if needed."""
    if settings.redis_url:
        return settings.redis_url
    return EmbeddedRedis(settings.data_dir).start().url


def connect(url: str) -> Redis:
    return Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)


class JobQueue:
    """The Redis client and RQ queue one process uses."""

    def __init__(self, settings: Settings):
        self.url = resolve_redis_url(settings)
        self.redis = connect(self.url)
        self.queue = Queue(settings.queue_name, connection=self.redis)

    def enqueue(self, func_path: str, *args, **kwargs):
        return self.queue.enqueue(func_path, *args, **kwargs)


def init_app(app: Flask, job_queue: JobQueue) -> None:
    app.extensions["job_queue"] = job_queue


def get_queue() -> JobQueue:
    return current_app.extensions["job_queue"]
