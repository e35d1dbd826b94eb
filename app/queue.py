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


REDIS_CONNECT_TIMEOUT_SECONDS = 5
# Longer than any blocking read we issue: a sync request waits on BLPOP for up to
# TIERGATE_SYNC_WAIT_SECONDS, and redis-py's own default (5 s) would cut that wait short.
REDIS_SOCKET_TIMEOUT_MARGIN_SECONDS = 30


def connect(url: str, blocking_seconds: float = 0) -> Redis:
    return Redis.from_url(url, socket_connect_timeout=REDIS_CONNECT_TIMEOUT_SECONDS,
                          socket_timeout=blocking_seconds + REDIS_SOCKET_TIMEOUT_MARGIN_SECONDS,
                          health_check_interval=30)


class JobQueue:
    """The Redis client and RQ queue one process uses."""

    def __init__(self, settings: Settings):
        self.url = resolve_redis_url(settings)
        self.redis = connect(self.url, blocking_seconds=settings.sync_wait_seconds)
        self.queue = Queue(settings.queue_name, connection=self.redis)

    def enqueue(self, func_path: str, *args, **kwargs):
        return self.queue.enqueue(func_path, *args, **kwargs)


def init_app(app: Flask, job_queue: JobQueue) -> None:
    app.extensions["job_queue"] = job_queue


def get_queue() -> JobQueue:
    return current_app.extensions["job_queue"]
