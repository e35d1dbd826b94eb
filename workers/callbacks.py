"""RQ job that delivers one signed callback; RQ's Retry re-runs it with backoff when the receiver fails."""
from __future__ import annotations

from typing import Any

from workers.context import worker_app


def deliver_callback_job(url: str, payload: dict[str, Any]) -> int:
    """POST ``payload`` to ``url`` signed with the callback secret; returns the receiver's status code."""
    from app.callbacks import deliver

    settings = worker_app().config["TIERGATE"]
    return deliver(url, payload, settings.callback_secret, settings.allowed_callback_hosts)
