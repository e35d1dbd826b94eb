"""The worker's app: built once when the worker starts, shared by every job it runs."""
from __future__ import annotations

from flask import Flask

_app: Flask | None = None


def worker_app() -> Flask:
    """The app this worker process built at start (or builds now, for a job run outside a worker)."""
    global _app
    if _app is None:
        from app import create_app

        _app = create_app(migrate=False)
    return _app
