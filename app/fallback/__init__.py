"""``/v1/fallback`` as a service: run a stored request through the cascade, write the ledger, deliver.

Free of Flask views (the request body lives with the view in ``app.api.fallback``), so a worker
imports it without the web layer.
"""
from app.fallback.service import JOB, enqueue, execute, rerun_at_tier, run_job, start_sync, stored_answer

__all__ = ["JOB", "enqueue", "execute", "rerun_at_tier", "run_job", "start_sync", "stored_answer"]
