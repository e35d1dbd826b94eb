"""The worker's app and runtime: built once when the worker starts, shared by every job it runs."""
from __future__ import annotations

import time

from flask import Flask

from app.execution.runtime import Runtime, runtime_of

# How often a worker checks that it runs the policy version in force (an operator may apply or roll
# back one while it runs): a query per job was a tenth of a job's CPU.
POLICY_CHECK_SECONDS = 5.0

_app: Flask | None = None
_checked_at = 0.0


def worker_app() -> Flask:
    """The app this worker process built at start (or builds now, for a job run outside a worker)."""
    global _app
    if _app is None:
        from app import create_app

        _app = create_app(migrate=False)
    return _app


def worker_runtime() -> Runtime:
    """The worker's runtime, on the policy version in force (checked every few seconds)."""
    global _checked_at
    app = worker_app()
    if time.monotonic() - _checked_at >= POLICY_CHECK_SECONDS:
        from app.sampling import sync_policy

        _checked_at = time.monotonic()
        sync_policy(app)
    return runtime_of(app)


def job_app() -> Flask:
    """The worker's app, on the policy version in force (for jobs not yet moved onto the runtime)."""
    worker_runtime()
    return worker_app()
