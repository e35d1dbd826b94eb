"""RQ jobs of shadow comparisons. The job id of ``run_shadow_job`` is the comparison id.

The jobs are safe to run twice: a comparison that has its batch or its verdict is not paid again.
"""
from __future__ import annotations

from workers.context import worker_runtime


def run_shadow_job(comparison_id: str) -> str:
    """Send the baseline call of a sampled request (through a batch where the provider has one)."""
    from app.shadow import runner

    rt = worker_runtime()
    return runner.run(rt, comparison_id)


def run_list_shadow_job(request_id: str) -> str:
    """Draw rows of a delivered /v1/classify list and send their baseline calls as one batch."""
    from app.shadow import runner

    rt = worker_runtime()
    return runner.run_list(rt, request_id)


def poll_shadow_job(comparison_ids: list[str]) -> str:
    """Collect a shadow batch that ended, compare, and record; or look again later."""
    from app.shadow import runner

    rt = worker_runtime()
    return runner.poll(rt, comparison_ids)
