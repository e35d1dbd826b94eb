"""Monthly quality sampling of tier1 answers, its recommendations, and the policy versions they produce.

docs/architecture.md, "Review queue": each month a stratified sample of tier1 answers (default 50: 20 classification,
10 extraction, 10 format rewrite, 10 translation) goes into the review queue as audit items. Reviewers
mark each right or wrong; the wrong-answer rate per class gives the recommendation:

    rate < 5%          keep
    5% <= rate <= 10%  adjust the prompt and add examples
    rate > 10%         move the class up one tier

Applying a recommendation stores the whole new policy document as a ``PolicyVersion`` (who, when, why)
and puts it in force; a rollback retires it again (``versions``). The draw runs monthly as an RQ job
(``schedule``), from ``tiergate sample`` and from the audit page (``audit``). Every process re-checks
the stored version in force every ``POLICY_SYNC_SECONDS`` (``sync_policy``: the web layer before a request,
the workers before a job).
"""
from __future__ import annotations

from app.sampling.audit import (ADJUST, CLASS_TASK_TYPES, DEFAULT_STRATA, KEEP, MOVE_UP, NO_DATA, RECOMMENDATION_TEXT,
                                ClassRate, SampleResult, allocate, class_rates, draw_sample, month_bounds, parse_month,
                                previous_month, recommend)
from app.sampling.schedule import ensure_monthly_schedule, monthly_job_id, next_monthly_run, schedule_monthly_sample
from app.sampling.versions import (active_version, apply_recommendation, list_versions, policy_text_in_force, rollback,
                                   sync_policy, POLICY_SYNC_SECONDS)

__all__ = ["ADJUST", "POLICY_SYNC_SECONDS", "CLASS_TASK_TYPES", "DEFAULT_STRATA", "KEEP", "MOVE_UP", "NO_DATA", "RECOMMENDATION_TEXT",
           "ClassRate", "SampleResult", "active_version", "allocate", "apply_recommendation", "class_rates",
           "draw_sample", "ensure_monthly_schedule", "list_versions", "month_bounds", "monthly_job_id",
           "next_monthly_run", "parse_month", "policy_text_in_force", "previous_month", "recommend", "rollback",
           "schedule_monthly_sample", "sync_policy"]
