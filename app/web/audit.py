"""The quality-audit page: draw a month's sample, read wrong-answer rates, apply or roll back the policy.

Any reviewer draws and reads; applying and rolling back change the policy in force, so they need an admin.
"""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from app import sampling
from app.errors import ApiError
from app.web.context import db, runtime
from app.web.auth import admin_required, current_reviewer, login_required

bp = Blueprint("audit", __name__, url_prefix="/review/audit")


def _month_arg(source) -> str:
    raw = (source.get("month") or "").strip()
    try:
        return sampling.parse_month(raw) if raw else sampling.previous_month()
    except ApiError:
        return sampling.previous_month()


@bp.get("")
@login_required
def overview():
    month = _month_arg(request.args)
    version = sampling.active_version(db())
    return render_template("review_audit.html", month=month, rates=sampling.class_rates(db(), month),
                           strata=sampling.DEFAULT_STRATA, versions=sampling.list_versions(db()),
                           active_version=version, texts=sampling.RECOMMENDATION_TEXT)


@bp.post("/sample")
@login_required
def draw():
    month = _month_arg(request.form)
    result = sampling.draw_sample(db(), month)
    db().commit()
    if result.already_drawn:
        flash(f"The {month} sample was drawn before ({result.total} items); nothing new was added.")
    elif result.total == 0:
        flash(f"No tier1 answers in {month} to sample.")
    else:
        shares = ", ".join(f"{name} {count}" for name, count in result.drawn.items())
        flash(f"Drew {result.total} audit items for {month}: {shares}.")
    return redirect(url_for("audit.overview", month=month))


@bp.post("/apply")
@admin_required
def apply():
    month = _month_arg(request.form)
    try:
        version = sampling.apply_recommendation(db(), runtime(), month,
                                                request.form.get("class", ""), current_reviewer().email)
    except ApiError as exc:
        db().rollback()
        flash(f"Not applied: {exc.message}")
    else:
        flash(f"Policy version {version.id} is in force: {version.reason}")
    return redirect(url_for("audit.overview", month=month))


@bp.post("/rollback")
@admin_required
def rollback():
    month = _month_arg(request.form)
    try:
        version = sampling.rollback(db(), runtime(), current_reviewer().email,
                                    request.form.get("why", "").strip())
    except ApiError as exc:
        db().rollback()
        flash(f"Not rolled back: {exc.message}")
    else:
        flash(f"Rolled back; {f'policy version {version.id}' if version else 'the policy file'} is in force.")
    return redirect(url_for("audit.overview", month=month))
