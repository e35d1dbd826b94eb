"""Data files are the owner's alone: SQLite and its side files, generated secrets, the embedded Redis files."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import redis

from app import create_app
from app.config import load_settings
from app.execution.embedded_redis import EmbeddedRedis

WORLD_READABLE_UMASK = 0o022  # the usual default, under which files come out 0644


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(autouse=True)
def usual_umask():
    previous = os.umask(WORLD_READABLE_UMASK)
    yield
    os.umask(previous)


def sqlite_app(data_dir: Path, redis_url: str):
    settings = load_settings(TIERGATE_DATA_DIR=data_dir, REDIS_URL=redis_url, DATABASE_URL="")
    application = create_app(settings)
    return application


def test_a_fresh_data_directory_is_private(tmp_path, redis_url, redis_conn):
    data_dir = tmp_path / "data"
    application = sqlite_app(data_dir, redis_url)
    try:
        store = application.extensions["store"]
        with store.engine.connect() as connection:  # a write, so SQLite has its -wal and -shm files
            connection.exec_driver_sql("CREATE TABLE touch (x INTEGER)")
            connection.commit()
            files = {name: mode(data_dir / name) for name in
                     ("tiergate.db", "tiergate.db-wal", "tiergate.db-shm", "tiergate.db.migrate.lock",
                      "secret_key", "callback_secret")}
    finally:
        application.extensions["store"].dispose()
    assert files == dict.fromkeys(files, 0o600)
    assert mode(data_dir) == 0o700


def test_files_left_world_readable_by_an_older_version_are_tightened(tmp_path, redis_url, redis_conn):
    data_dir = tmp_path / "data"
    sqlite_app(data_dir, redis_url).extensions["store"].dispose()
    for path in [data_dir, *data_dir.iterdir()]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    application = sqlite_app(data_dir, redis_url)
    application.extensions["store"].dispose()
    assert {path.name: mode(path) for path in data_dir.iterdir()} == {
        path.name: 0o600 for path in data_dir.iterdir()}
    assert mode(data_dir) == 0o700


def test_the_embedded_redis_writes_private_files(tmp_path):
    directory = tmp_path / "redis"
    server = EmbeddedRedis(directory).start()
    try:
        connection = redis.Redis.from_url(server.url)
        connection.set("job", "the customer's text")
        connection.save()  # the dump
        connection.bgrewriteaof()  # a rewritten AOF is a new file, created by redis-server itself
        connection.close()
    finally:
        server.stop()
    files = {name: mode(directory / name) for name in ("redis.aof", "redis.rdb", "redis.log")}
    assert files == dict.fromkeys(files, 0o600)
    assert mode(directory) == 0o700
