"""Helpers shared by the subcommands: settings and a migrated store without a web app."""
from __future__ import annotations

from app.config import Settings, load_settings
from app.store import Store


def cli_settings() -> Settings:
    return load_settings().ensure_secrets()


def cli_store(settings: Settings | None = None) -> Store:
    store = Store((settings or cli_settings()).sqlalchemy_url)
    store.migrate()
    return store
