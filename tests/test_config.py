"""Settings: a wrong value names the environment variable; secrets are generated, never hard-coded."""
from __future__ import annotations

import pytest

from app.config import load_settings
from app.errors import ConfigError


@pytest.mark.parametrize("variable, value", [
    ("PORT", "eighty"), ("PORT", "70000"), ("TIERGATE_SYNC_WAIT_SECONDS", "-1"),
    ("TIERGATE_MAX_BODY_BYTES", "0"), ("TIERGATE_DISPLAY_RATE", "abc"),
])
def test_bad_value_names_the_variable(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=rf"{variable}: "):
        load_settings()


def test_defaults(monkeypatch, tmp_path):
    for name in ("PORT", "REDIS_URL", "DATABASE_URL", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(TIERGATE_DATA_DIR=tmp_path)
    assert settings.port == 8080 and settings.redis_url is None and settings.dry_run
    assert settings.sqlalchemy_url == f"sqlite:///{(tmp_path / 'tiergate.db').resolve()}"


def test_postgres_url_uses_psycopg3():
    settings = load_settings(DATABASE_URL="postgresql://postgres@127.0.0.1:5432/test")
    assert settings.sqlalchemy_url == "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def test_generated_secrets_persist_and_differ(tmp_path, monkeypatch):
    monkeypatch.delenv("TIERGATE_SECRET_KEY", raising=False)
    monkeypatch.delenv("TIERGATE_CALLBACK_SECRET", raising=False)
    first = load_settings(TIERGATE_DATA_DIR=tmp_path).ensure_secrets()
    again = load_settings(TIERGATE_DATA_DIR=tmp_path).ensure_secrets()
    assert first.secret_key == again.secret_key and first.callback_secret == again.callback_secret
    assert first.secret_key != first.callback_secret and len(first.callback_secret) >= 32
    assert oct((tmp_path / "callback_secret").stat().st_mode & 0o777) == "0o600"


def test_secrets_stay_out_of_repr(monkeypatch):
    settings = load_settings(ANTHROPIC_API_KEY="sk-ant-secret", TIERGATE_CALLBACK_SECRET="cb-secret")
    assert "sk-ant-secret" not in repr(settings) and "cb-secret" not in repr(settings)
