"""The admin pages (reviewers with role ``admin``): API keys, reviewers, budgets and failed callbacks.

What ``tiergate keys|reviewers|budgets`` do on the server's shell, done in the browser: every change goes
through the same services (``app.admin.accounts``, ``app.money.budgets``, ``app.admin.deliveries``). A new key or an
invited reviewer's first password is shown once, in the answer to the form that made it, and never
stored in clear. Forms carry the session's CSRF token like every page form.
"""
from __future__ import annotations

from decimal import Decimal

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from app.admin import accounts
from app.execution import outbox
from app.admin.keys import SCOPES
from app.money.budgets import ACTIONS, DEFAULT_ALERT_PCT, PERIODS, list_budgets, set_budget
from app.execution.callbacks import check_target
from app.admin.deliveries import retry, troubled
from app.errors import ApiError, InvalidField
from app.store import db
from app.web.auth import admin_required, current_reviewer

bp = Blueprint("admin", __name__, url_prefix="/admin")

BUDGET_SCOPES = {"api_key": "API key", "workflow": "Workflow"}
DEFAULT_KEY_SCOPES = ("route", "classify", "fallback")


def _redis():
    return current_app.extensions["job_queue"].redis


def _problem(page: str, exc: ApiError, form=None):
    """Show the page again with what was wrong (naming the field) and what was typed."""
    db().rollback()
    return RENDERERS[page](error=exc.message, field=getattr(exc, "field", None), form=form or request.form,
                           status=exc.status)


@bp.get("")
@admin_required
def home():
    return redirect(url_for("admin.keys"))


# -- API keys -------------------------------------------------------------------------------------

def _keys_page(*, issued=None, error=None, field=None, form=None, status=200):
    session = db()
    budgets = {row.subject: row for row in list_budgets(session) if row.scope == "api_key"}
    return render_template("admin_keys.html", keys=accounts.list_keys(session), budgets=budgets, scopes=SCOPES,
                           default_scopes=DEFAULT_KEY_SCOPES, actions=ACTIONS, issued=issued, error=error,
                           field=field, form=form or {}), status


@bp.get("/keys")
@admin_required
def keys():
    return _keys_page()


@bp.post("/keys")
@admin_required
def create_key():
    form = request.form
    try:
        issued = accounts.issue_key(db(), form.get("name", ""), form.getlist("scopes"),
                                    budget_usd=accounts.parse_budget(form.get("budget")),
                                    on_budget=form.get("on_budget", "refuse"))
        db().commit()
    except ApiError as exc:
        return _problem("keys", exc)
    # Rendered, not redirected: the plain key must not travel through the session cookie.
    return _keys_page(issued=issued, status=201)


@bp.post("/keys/<int:key_id>/revoke")
@admin_required
def revoke_key(key_id: int):
    try:
        accounts.revoke(db(), key_id, _redis())
        db().commit()
    except ApiError as exc:
        return _problem("keys", exc)
    flash(f"Revoked key {key_id}: requests with it get 401 from now on.")
    return redirect(url_for("admin.keys"))


# -- reviewers ------------------------------------------------------------------------------------

def _reviewers_page(*, invited=None, error=None, field=None, form=None, status=200):
    return render_template("admin_reviewers.html", reviewers=accounts.list_reviewers(db()), invited=invited,
                           me=current_reviewer(), error=error, field=field, form=form or {}), status


@bp.get("/reviewers")
@admin_required
def reviewers():
    return _reviewers_page()


@bp.post("/reviewers")
@admin_required
def invite():
    try:
        reviewer, password = accounts.invite_reviewer(db(), request.form.get("email", ""),
                                                      admin=request.form.get("role") == "admin")
        invited = {"email": reviewer.email, "role": reviewer.role, "password": password}
        db().commit()
    except ApiError as exc:
        return _problem("reviewers", exc)
    return _reviewers_page(invited=invited, status=201)


@bp.post("/reviewers/role")
@admin_required
def change_role():
    email, role = request.form.get("email", ""), request.form.get("role", "")
    try:
        reviewer = accounts.set_role(db(), email, role)
        message = f"{reviewer.email} is now {'an admin' if reviewer.is_admin else 'a reviewer'}."
        db().commit()
    except ApiError as exc:
        return _problem("reviewers", exc, form={})
    flash(message)
    return redirect(url_for("admin.reviewers"))


@bp.post("/reviewers/remove")
@admin_required
def remove():
    try:
        reviewer = accounts.deactivate(db(), request.form.get("email", ""))
        message = f"Removed {reviewer.email}: they can no longer log in."
        db().commit()
    except ApiError as exc:
        return _problem("reviewers", exc, form={})
    flash(message)
    return redirect(url_for("admin.reviewers"))


# -- budgets --------------------------------------------------------------------------------------

def _budgets_page(*, error=None, field=None, form=None, status=200):
    return render_template("admin_budgets.html", budgets=list_budgets(db()), keys=accounts.list_keys(db()),
                           scopes=BUDGET_SCOPES, periods=PERIODS, actions=ACTIONS, default_alert_pct=DEFAULT_ALERT_PCT,
                           error=error, field=field, form=form or {}), status


@bp.get("/budgets")
@admin_required
def budgets():
    return _budgets_page()


@bp.post("/budgets")
@admin_required
def save_budget():
    form = request.form
    try:
        scope = form.get("scope", "")
        subject = (form.get("key_id") if scope == "api_key" else form.get("workflow", "")).strip()
        if not subject:
            raise InvalidField("choose the API key or name the workflow (metadata.workflow)",
                               "key_id" if scope == "api_key" else "workflow")
        if scope == "api_key" and not any(str(key.id) == subject and key.revoked_at is None
                                          for key in accounts.list_keys(db())):
            raise InvalidField(f"no active API key with id {subject}", "key_id")
        limit = accounts.parse_budget(form.get("usd"))
        if limit is None:
            raise InvalidField("give the limit in USD", "usd")
        try:
            alert_pct = int(form.get("alert_pct") or DEFAULT_ALERT_PCT)
        except ValueError:
            raise InvalidField("alert_pct must be a whole number between 0 and 100", "alert_pct") from None
        alert_url = form.get("alert_url", "").strip() or None
        if alert_url:
            try:
                check_target(alert_url, current_app.config["TIERGATE"].allowed_callback_hosts)
            except InvalidField as exc:
                raise InvalidField(exc.message.replace("callback_url", "alert_url"), "alert_url") from None
        budget = set_budget(db(), scope, subject, Decimal(limit), period=form.get("period", "month"),
                            action=form.get("on_budget", "refuse"), alert_pct=alert_pct, alert_url=alert_url)
        message = f"Budget saved: {BUDGET_SCOPES.get(budget.scope, budget.scope)} {budget.subject}, " \
                  f"${budget.limit_usd:,.2f} per {budget.period}."
        db().commit()
    except ApiError as exc:
        return _problem("budgets", exc)
    flash(message)
    return redirect(url_for("admin.budgets"))


# -- callbacks ------------------------------------------------------------------------------------

def _callbacks_page(*, error=None, field=None, form=None, status=200):
    return render_template("admin_callbacks.html", callbacks=troubled(db()), error=error), status


@bp.get("/callbacks")
@admin_required
def callbacks():
    return _callbacks_page()


@bp.post("/callbacks/<int:delivery_id>/retry")
@admin_required
def retry_callback(delivery_id: int):
    try:
        retry(db(), delivery_id)
        db().commit()
    except ApiError as exc:
        return _problem("callbacks", exc)
    outbox.kick(current_app.extensions["store"], current_app.config["TIERGATE"], [delivery_id])
    flash(f"Callback {delivery_id} is being sent again.")
    return redirect(url_for("admin.callbacks"))


@bp.app_template_global()
def dead_callbacks():
    """Callbacks given up for good, for the reports page (``_dead_callbacks.html``)."""
    return [callback for callback in troubled(db()) if callback.status == "dead"]


RENDERERS = {"keys": _keys_page, "reviewers": _reviewers_page, "budgets": _budgets_page, "callbacks": _callbacks_page}
