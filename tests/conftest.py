"""Shared fixtures: real Redis, real SQL (SQLite, or PostgreSQL when DATABASE_URL says so), the app.

Redis: the embedded server (one per test session, in a temp dir) unless REDIS_URL is set; it is wiped
before every test. SQL: SQLite copied from a migrated template per test, or PostgreSQL migrated once
per session and truncated before every test.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from app import create_app
from app.api.auth import SCOPES, create_key
from app.config import load_settings
from app.execution.embedded_redis import EmbeddedRedis
from app.execution.queue import connect
from app.store import Base, Store

TEST_QUEUE = "tiergate-test"

# The fake Messages API server and the real SDK provider pointed at it, for every test module.
pytest_plugins = ["tests.support.fixtures"]


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> str:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis")).start()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def _sql_template(tmp_path_factory) -> str:
    """A migrated database: a SQLite file to copy, or the PostgreSQL URL after a fresh migration."""
    url = os.environ.get("DATABASE_URL")
    if url:
        settings = load_settings(DATABASE_URL=url)
        engine = create_engine(settings.sqlalchemy_url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        store = Store(settings.sqlalchemy_url)
        store.migrate()
        store.dispose()
        return settings.sqlalchemy_url
    path = tmp_path_factory.mktemp("sql") / "template.db"
    store = Store(f"sqlite:///{path}")
    store.migrate()
    store.dispose()
    return str(path)


@pytest.fixture
def database_url(_sql_template, tmp_path) -> str:
    if _sql_template.startswith("postgresql"):
        engine = create_engine(_sql_template)
        tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        engine.dispose()
        return _sql_template
    target = tmp_path / "data" / "tiergate.db"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(_sql_template, target)
    return f"sqlite:///{target}"


@pytest.fixture
def redis_conn(redis_url):
    connection = connect(redis_url)
    connection.flushdb()
    yield connection
    connection.close()


@pytest.fixture
def settings(tmp_path, redis_url, database_url, redis_conn):
    return load_settings(TIERGATE_DATA_DIR=tmp_path / "data", REDIS_URL=redis_url, DATABASE_URL=database_url,
                         TIERGATE_QUEUE=TEST_QUEUE)


@pytest.fixture
def app(settings):
    application = create_app(settings, migrate=False)
    application.config["TESTING"] = True
    yield application
    application.extensions["store"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_key(app):
    """Create an API key with the given scopes and return the plain key."""
    def _make(scopes=SCOPES, name="test") -> str:
        with app.extensions["store"].session() as session:
            _key, plain = create_key(session, name, list(scopes))
        return plain
    return _make


@pytest.fixture
def api_key(make_key) -> str:
    return make_key()


@pytest.fixture
def auth(api_key) -> dict[str, str]:
    return {"X-API-Key": api_key}


@pytest.fixture
def project_root() -> Path:
    return Path(__file__).resolve().parent.parent


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium through Playwright, one per test session: Playwright's sync API allows only one
    driver per thread, so the page tests and the n8n editor tests share it."""
    if not CHROMIUM.exists():
        message = "Debian chromium is not installed (apt-get install -y chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)  # in CI a missing browser must not pass as skipped page tests
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()
