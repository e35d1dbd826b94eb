"""Shadow comparisons: evidence of what the saving costs in quality, per task class.

A sampled share of each task type's delivered answers is run again on the baseline model in the
background (``sampling``, ``runner``), compared by label, field by field or by a judge model
(``comparators``, ``judge``), and reported per class with a confidence interval, the listed
disagreements and the spend as its own line (``report``); disagreements can go to the review queue
(``audit``). The policy's per-task-type ``shadow`` setting switches it on.
"""
from __future__ import annotations

from flask import Flask

from app.shadow.sampling import after_delivery

__all__ = ["after_delivery", "init_app"]


def init_app(app: Flask) -> None:
    """Give templates ``shadow_section(period)`` and the recommendation texts: the reports page's partial
    reads them, so the page's view needs no change."""
    def shadow_section(period):
        from app.routing.state import current_policy
        from app.shadow.report import shadow_report
        from app.store import db

        return shadow_report(db(), current_policy(), period)

    def shadow_texts():
        from app.shadow.report import RECOMMENDATION_TEXT

        return RECOMMENDATION_TEXT

    app.jinja_env.globals.update(shadow_section=shadow_section, shadow_texts=shadow_texts)
