"""Shadow comparisons: evidence of what the saving costs in quality, per task class.

A sampled share of each task type's delivered answers is run again on the baseline model in the
background (``sampling``, ``runner``), compared by label, field by field or by a judge model
(``comparators``, ``judge``), and reported per class with a confidence interval, the listed
disagreements and the spend as its own line (``report``); disagreements can go to the review queue
(``audit``). The policy's per-task-type ``shadow`` setting switches it on.
"""
from __future__ import annotations

from app.execution.delivered import on_delivered
from app.shadow.sampling import after_delivery, shadowed

__all__ = ["after_delivery"]


def _sample(rt, request_id: str, task_type: str) -> None:
    if shadowed(rt.policy(), task_type):  # types that are not shadowed (the default) cost nothing here
        after_delivery(rt, request_id)


on_delivered("shadow", _sample)  # every delivered answer may be sampled; importing this package turns it on
