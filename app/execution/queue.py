"""The Redis connection and the RQ queue, registered on the app.

Jobs are enqueued by dotted path (``workers.fallback.run_fallback_job``) so the web process never
imports worker code.
"""
from __future__ import annotations

from flask import Flask, current_app
from redis import Redis
from rq import Queue

from app.config import Settings
from app.execution.embedded_redis import EmbeddedRedis


def resolve_redis_url(settings: Settings) -> str:
    """REDIS_URL when set; else the embedded server of the data directory, started if needed."""
    if settings.redis_url:
        return settings.redis_url
    return EmbeddedRedis(settings.data_dir).start().url


REDIS_CONNECT_TIMEOUT_SECONDS = 5
# Longer than any single command we send; a worker's blocking dequeue gets its own longer timeout from RQ.
REDIS_SOCKET_TIMEOUT_SECONDS = 10
# A Redis blip (a restart takes a second or two) is retried this many times with backoff before the
# caller sees the error; beyond that the database holds the work and the sweeper catches up.
REDIS_RETRIES = 3
REDIS_BACKOFF_CAP_SECONDS = 1.0
REDIS_BACKOFF_BASE_SECONDS = 0.1


def connect(url: str, blocking_seconds: float = 0) -> Redis:
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import ConnectionError, TimeoutError
    from redis.retry import Retry

    return Redis.from_url(url, socket_connect_timeout=REDIS_CONNECT_TIMEOUT_SECONDS,
                          socket_timeout=blocking_seconds + REDIS_SOCKET_TIMEOUT_SECONDS, health_check_interval=30,
                          retry=Retry(ExponentialBackoff(cap=REDIS_BACKOFF_CAP_SECONDS, base=REDIS_BACKOFF_BASE_SECONDS),
                                      REDIS_RETRIES),
                          retry_on_error=[ConnectionError, TimeoutError])


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
