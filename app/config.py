"""Settings from the environment, validated by pydantic.

The names are the contract of docs/architecture.md, "Settings and command line". A bad value fails fast with the variable's name,
because an operator reads environment variables, not pydantic field paths.
"""
from __future__ import annotations

import secrets
from pathlib import Path

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.datafiles import private_dir, private_file, tighten
from app.errors import ConfigError

DEFAULT_PORT = 8080
DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024
DEFAULT_MAX_ITEMS = 50_000
# Zapier cancels an action after about 30 s; a sync request that is not done by then answers 202.
DEFAULT_SYNC_WAIT_SECONDS = 25.0
DEFAULT_IDEMPOTENCY_TTL_SECONDS = 24 * 3600
DEFAULT_PROVIDER_TIMEOUT_SECONDS = 60.0
DEFAULT_PROVIDER_MAX_RETRIES = 2
# A model's circuit opens after this many failed calls in a row, first for this long; then one probe
# call goes through, and each failed probe doubles the wait (up to 30 s).
DEFAULT_COOLDOWN_SECONDS = 5.0
DEFAULT_COOLDOWN_FAILURES = 3
DEFAULT_CLASSIFY_SYNC_MAX_ITEMS = 200
DEFAULT_CLASSIFY_CHUNK_SIZE = 50
DEFAULT_SMTP_PORT = 25


class Settings(BaseSettings):
    """Every setting Tiergate reads; the environment variable is the field name in upper case
    (with the ``TIERGATE_`` prefix where the alias says so)."""

    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore")

    data_dir: Path = Field(default=Path("./data"), alias="TIERGATE_DATA_DIR")
    port: int = Field(default=DEFAULT_PORT, ge=1, le=65535, alias="PORT")
    redis_url: str | None = Field(default=None, alias="REDIS_URL")
    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    policy_path: Path | None = Field(default=None, alias="TIERGATE_POLICY")
    anthropic_api_key: str | None = Field(default=None, alias="ANTHROPIC_API_KEY", repr=False)
    anthropic_base_url: str | None = Field(default=None, alias="ANTHROPIC_BASE_URL")
    callback_allow_hosts: str = Field(default="", alias="TIERGATE_CALLBACK_ALLOW_HOSTS")
    secret_key: str | None = Field(default=None, alias="TIERGATE_SECRET_KEY", repr=False)
    callback_secret: str | None = Field(default=None, alias="TIERGATE_CALLBACK_SECRET", repr=False)
    public_url: str | None = Field(default=None, alias="TIERGATE_PUBLIC_URL")
    # Reverse proxies in front of Tiergate whose X-Forwarded-* headers are believed (docs/public-https.md).
    trusted_proxies: int = Field(default=0, ge=0, le=5, alias="TIERGATE_TRUSTED_PROXIES")
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, gt=0, alias="TIERGATE_MAX_BODY_BYTES")
    max_items: int = Field(default=DEFAULT_MAX_ITEMS, gt=0, alias="TIERGATE_MAX_ITEMS")
    sync_wait_seconds: float = Field(default=DEFAULT_SYNC_WAIT_SECONDS, gt=0, alias="TIERGATE_SYNC_WAIT_SECONDS")
    idempotency_ttl_seconds: int = Field(default=DEFAULT_IDEMPOTENCY_TTL_SECONDS, gt=0, alias="TIERGATE_IDEMPOTENCY_TTL_SECONDS")
    provider_timeout_seconds: float = Field(default=DEFAULT_PROVIDER_TIMEOUT_SECONDS, gt=0, alias="TIERGATE_PROVIDER_TIMEOUT_SECONDS")
    provider_max_retries: int = Field(default=DEFAULT_PROVIDER_MAX_RETRIES, ge=0, alias="TIERGATE_PROVIDER_MAX_RETRIES")
    cooldown_seconds: float = Field(default=DEFAULT_COOLDOWN_SECONDS, ge=0, alias="TIERGATE_COOLDOWN_SECONDS")
    cooldown_failures: int = Field(default=DEFAULT_COOLDOWN_FAILURES, ge=1, alias="TIERGATE_COOLDOWN_FAILURES")
    classify_sync_max_items: int = Field(default=DEFAULT_CLASSIFY_SYNC_MAX_ITEMS, gt=0, alias="TIERGATE_CLASSIFY_SYNC_MAX_ITEMS")
    classify_chunk_size: int = Field(default=DEFAULT_CLASSIFY_CHUNK_SIZE, gt=0, alias="TIERGATE_CLASSIFY_CHUNK_SIZE")
    display_currency: str | None = Field(default=None, alias="TIERGATE_DISPLAY_CURRENCY")
    display_rate: float | None = Field(default=None, gt=0, alias="TIERGATE_DISPLAY_RATE")
    queue_name: str = Field(default="tiergate", alias="TIERGATE_QUEUE")
    # Telling people a draft waits (app.notify.notifications): one channel from these, more from the file.
    notify_webhook_url: str | None = Field(default=None, alias="TIERGATE_NOTIFY_WEBHOOK_URL")
    notify_email: str = Field(default="", alias="TIERGATE_NOTIFY_EMAIL")
    notify_task_types: str = Field(default="", alias="TIERGATE_NOTIFY_TASK_TYPES")
    notify_digest_minutes: int = Field(default=0, ge=0, alias="TIERGATE_NOTIFY_DIGEST_MINUTES")
    notify_file: Path | None = Field(default=None, alias="TIERGATE_NOTIFY_FILE")
    smtp_host: str | None = Field(default=None, alias="TIERGATE_SMTP_HOST")
    smtp_port: int = Field(default=DEFAULT_SMTP_PORT, ge=1, le=65535, alias="TIERGATE_SMTP_PORT")
    smtp_user: str | None = Field(default=None, alias="TIERGATE_SMTP_USER")
    smtp_password: str | None = Field(default=None, alias="TIERGATE_SMTP_PASSWORD", repr=False)
    smtp_from: str = Field(default="tiergate@localhost", alias="TIERGATE_SMTP_FROM")
    smtp_starttls: bool = Field(default=False, alias="TIERGATE_SMTP_STARTTLS")

    @field_validator("redis_url", "database_url", "anthropic_api_key", "secret_key", "callback_secret", "policy_path",
                     "public_url", "notify_webhook_url", "notify_file", "smtp_host", "smtp_user", "smtp_password",
                     mode="before")
    @classmethod
    def _blank_is_unset(cls, value):
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def allowed_callback_hosts(self) -> set[str]:
        return {host.strip().lower() for host in self.callback_allow_hosts.split(",") if host.strip()}

    @property
    def sqlalchemy_url(self) -> str:
        """DATABASE_URL as SQLAlchemy wants it (psycopg 3 driver), or SQLite in the data directory."""
        if not self.database_url:
            return f"sqlite:///{(self.data_dir / 'tiergate.db').resolve()}"
        url = self.database_url
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix):]
        return url

    @property
    def dry_run(self) -> bool:
        return not self.anthropic_api_key

    def ensure_secrets(self) -> "Settings":
        """Fill unset secrets from files in the data directory, generating them on first use.

        Never a hard-coded fallback: a generated secret survives restarts because it is persisted.
        """
        private_dir(self.data_dir)
        if not self.secret_key:
            self.secret_key = _persisted_secret(self.data_dir / "secret_key")
        if not self.callback_secret:
            self.callback_secret = _persisted_secret(self.data_dir / "callback_secret")
        return self


def _persisted_secret(path: Path) -> str:
    if path.exists():
        tighten(path)
        return path.read_text().strip()
    value = secrets.token_urlsafe(32)
    private_file(path).write_text(value)
    return value


def load_settings(**overrides) -> Settings:
    """Settings from the environment (plus explicit overrides, used by tests), or ConfigError."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else "?"
            field = Settings.model_fields.get(name)
            variable = (field.alias if field and field.alias else name) if field else name
            lines.append(f"{variable}: {error['msg']} (got {error.get('input')!r})")
        raise ConfigError("invalid settings:\n  " + "\n  ".join(lines)) from None
