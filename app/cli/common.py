"""Helpers shared by the subcommands: settings and a migrated store without a web app.

Finding the data directory: ``TIERGATE_DATA_DIR`` defaults to ``./data``, relative to the folder a
command runs in. ``tiergate up`` may create it (a first start), but any other command run from another
folder would silently make a new, empty database, and keys made there are rejected by the running
server. So the other commands use ``./data`` only when it holds Tiergate's data, else the data
directory the last ``tiergate up`` of this user recorded (``SERVER_POINTER``), else they refuse and
say where they looked.
"""
from __future__ import annotations

import os
from pathlib import Path

import click
from redis import Redis

from app.config import Settings, load_settings
from app.execution.embedded_redis import EmbeddedRedis
from app.errors import ConfigError
from app.execution.queue import connect
from app.store import Store

# Files that only a Tiergate data directory holds.
DATA_DIR_MARKERS = ("tiergate.db", "secret_key", "callback_secret", "redis.aof")


def server_pointer() -> Path:
    """Where ``tiergate up`` records its data directory for the other commands of the same user."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "tiergate" / "data-dir"


def record_data_dir(settings: Settings) -> None:
    """Called by ``tiergate up``: later commands run from any folder find this data directory."""
    pointer = server_pointer()
    try:
        pointer.parent.mkdir(parents=True, exist_ok=True)
        pointer.write_text(str(settings.data_dir.resolve()) + "\n")
    except OSError:  # a read-only home (some containers): the commands then need TIERGATE_DATA_DIR
        pass


def _is_data_dir(path: Path) -> bool:
    return any((path / name).exists() for name in DATA_DIR_MARKERS)


def find_data_dir(settings: Settings) -> Settings:
    """The settings with the data directory of the running server, or ConfigError naming where we looked."""
    if os.environ.get("TIERGATE_DATA_DIR") or settings.database_url or _is_data_dir(settings.data_dir):
        return settings  # named, or the data is in the DATABASE_URL's database whatever the folder
    pointer = server_pointer()
    recorded = Path(pointer.read_text().strip()) if pointer.is_file() else None
    if recorded is not None and _is_data_dir(recorded):
        click.echo(f"using the data directory of `tiergate up`: {recorded} (set TIERGATE_DATA_DIR to choose another)",
                   err=True)
        return load_settings(TIERGATE_DATA_DIR=recorded)
    looked = [f"{settings.data_dir.resolve()} (./data in the current folder; TIERGATE_DATA_DIR is unset)",
              f"{recorded or pointer} ({'recorded by the last `tiergate up`, but holds no data' if recorded else 'where `tiergate up` records its data directory: not written yet'})"]
    raise ConfigError("no Tiergate data directory found, so nothing was created (a new one would hold a new, empty "
                      "database whose keys the running server rejects). Looked in:\n  " + "\n  ".join(looked) +
                      "\nRun the command in the folder where `tiergate up` runs, or set TIERGATE_DATA_DIR to its data "
                      "directory; `tiergate up` creates a new one on its first start.")


def cli_settings(*, create: bool = False) -> Settings:
    """Settings for a command; only ``create=True`` (``tiergate up``) may start a new data directory."""
    settings = load_settings()
    if not create:
        settings = find_data_dir(settings)
    return settings.ensure_secrets()


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
