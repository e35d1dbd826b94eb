"""The cascade engine: a pure library (no Flask, no database) that the fallback job calls."""
from app.cascade.engine import CascadeInput, run_cascade
from app.cascade.records import AttemptRecord, CascadeResult

__all__ = ["AttemptRecord", "CascadeInput", "CascadeResult", "rerun_at_tier", "run_cascade"]


def rerun_at_tier(payload: dict, tier: str) -> dict:
    """Run a stored fallback request again on ``tier`` (a reviewer's re-run); needs an app context.

    Returns the answer object of a new ledger request: ``request_id``, ``tier``, ``output``,
    ``review_reasons`` and the rest of the ``/v1/fallback`` fields.
    """
    from flask import current_app

    from app.fallback.service import rerun_at_tier as rerun

    return rerun(current_app._get_current_object(), payload, tier)
