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


def job_app() -> Flask:
    """The worker's app with the policy version in force, checked at the start of every job.

    An operator may apply or roll back a policy version while the worker runs; one cheap query per
    job keeps the worker on the same policy as the web processes.
    """
    from app.sampling import sync_policy

    app = worker_app()
    sync_policy(app)
    return app
