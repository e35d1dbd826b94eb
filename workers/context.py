"""The worker's runtime: built once when the worker starts, shared by every job it runs (no Flask app)."""
from __future__ import annotations

import time

from app.execution.runtime import Runtime

# How often a worker checks that it runs the policy version in force (an operator may apply or roll
# back one while it runs): a query per job was a tenth of a job's CPU.
POLICY_CHECK_SECONDS = 5.0

_runtime: Runtime | None = None
_checked_at = 0.0


def worker_runtime() -> Runtime:
    """The worker's runtime, on the policy version in force (checked every few seconds).

    Built on first use: at worker start, or now for a job run outside a worker.
    """
    global _runtime, _checked_at
    from app.sampling import sync_policy

    if _runtime is None:
        from app.config import load_settings
        from app.redact import install_log_redaction
        from app.sampling import ensure_monthly_schedule
        import app.classify.service, app.notify.notifications, app.shadow, app.tasks.runner  # noqa: F401,E401
        # ^ what a worker runs registers itself: the kinds it resumes, the sweep's duties, the shadow sampler

        install_log_redaction()  # callback URLs carry tokens: no log line of this process shows them whole
        _runtime = Runtime.build(load_settings(), migrate=False)
        sync_policy(_runtime)  # a policy version an operator applied overrides the file
        from app.money.budget_view import watch_budgets
        watch_budgets(_runtime.store, _runtime.redis)  # budget look-ups from the view, not per job
        ensure_monthly_schedule(_runtime)
        _checked_at = time.monotonic()
    elif time.monotonic() - _checked_at >= POLICY_CHECK_SECONDS:
        _checked_at = time.monotonic()
        sync_policy(_runtime)
    return _runtime
