"""RQ jobs of the review queue: re-running an item on a higher tier, and the monthly quality sample."""
from __future__ import annotations

from typing import Any

from workers.context import job_app


def rerun_review_job(review_id: str) -> dict[str, Any]:
    """Run the item's request again one tier higher; its answer becomes a new pending item."""
    from app.reviews.service import reopen_after_failed_rerun, rerun_review

    app = job_app()
    with app.app_context():
        try:
            return rerun_review(app, review_id)
        except Exception as exc:
            reopen_after_failed_rerun(app, review_id, exc)
            raise  # RQ records the failure; the item is back in the queue meanwhile


def monthly_sample_job() -> dict[str, Any]:
    """Draw last month's audit sample, then schedule the next run."""
    from app.sampling.schedule import run_monthly_sample

    app = job_app()
    with app.app_context():
        return run_monthly_sample(app)
