"""``/v1/fallback`` as a service: store the request, run it as an RQ job, write the ledger, deliver.

Free of Flask views (the request body lives with the view in ``app.api.fallback``), so a worker
imports it without the web layer.
"""
from app.fallback.service import JOB, enqueue, execute, persist, run_request, wait_for_answer

__all__ = ["JOB", "enqueue", "execute", "persist", "run_request", "wait_for_answer"]
