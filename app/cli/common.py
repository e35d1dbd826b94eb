"""Helpers shared by the subcommands: settings and a migrated store without a web app."""
from __future__ import annotations

from redis import Redis

from app.config import Settings, load_settings
from app.execution.embedded_redis import EmbeddedRedis
from app.execution.queue import connect
from app.store import Store


def cli_settings() -> Settings:
    return load_settings().ensure_secrets()


def cli_store(settings: Settings | None = None) -> Store:
    store = Store((settings or cli_settings()).sqlalchemy_url)
    store.migrate()
    return store


def running_redis(settings: Settings) -> Redis | None:
    """The Redis the service uses, if one is up; never starts the embedded one just for a command."""
    if settings.redis_url:
        return connect(settings.redis_url)
    embedded = EmbeddedRedis(settings.data_dir)
    return connect(embedded.url) if embedded.running() else None
