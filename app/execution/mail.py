"""E-mail as a delivery transport of the outbox: a ``mailto:`` row is sent over SMTP (``TIERGATE_SMTP_*``)
with the same retries and dead-letter handling as a webhook callback."""
from __future__ import annotations

import smtplib
from email.message import EmailMessage
from typing import Any, Iterable

from app.errors import ConfigError

MAILTO = "mailto:"
SMTP_TIMEOUT_SECONDS = 10.0


def split_addresses(value: Any) -> list[str]:
    """Addresses (or any comma-separated list) as a clean list."""
    if value is None:
        return []
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    return [str(item).strip() for item in items if str(item).strip()]


def is_mail(url: str) -> bool:
    return url.startswith(MAILTO)


def send_mail(url: str, payload: dict[str, Any], settings) -> None:
    """Send one notification by SMTP; raises on failure so the outbox retries it."""
    if not settings.smtp_host:
        raise ConfigError("e-mail notifications need TIERGATE_SMTP_HOST")
    recipients = split_addresses(url[len(MAILTO):])
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = ", ".join(recipients)
    count = payload.get("count") or 1
    message["Subject"] = (f"Tiergate: {count} draft{'s' if count != 1 else ''} waiting for review"
                          + (f" ({payload['task_type']})" if payload.get("task_type") and count == 1 else ""))
    message.set_content(str(payload.get("text") or "") + "\n\n-- \nTiergate review queue notification "
                        f"({payload.get('event')}).\n")
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT_SECONDS) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password or "")
        smtp.send_message(message, to_addrs=recipients)


def recipients_of(url: str) -> Iterable[str]:
    return split_addresses(url[len(MAILTO):]) if is_mail(url) else []
