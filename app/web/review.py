"""The review queue pages: the list with filters and counts, and one item with its decision form."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from app.errors import ApiError, Conflict, NotFound
from app.reviews.service import KINDS, STATUSES, DecisionInput, QueueFilter, age_seconds, attempts_of, count_reviews, decide, \
    get_review, is_low_risk, list_reviews, next_pending_id, queue_counts, reason_key, reason_label
from app.notify.summary import summarize
from app.reviews.edits import current_label, edit_rules, with_label
from app.web.context import db, runtime
from app.web.auth import current_reviewer, login_required

bp = Blueprint("review", __name__, url_prefix="/review")

# The age filter's choices: label -> minutes.
AGE_CHOICES = {"": None, "15m": 15, "1h": 60, "4h": 240, "1d": 1440, "7d": 10080}
PAGE_SIZE = 50  # rows per page of the queue; a phone scrolls 50 comfortably
ACTION_MESSAGES = {"approve": "Approved", "reject": "Rejected", "rerun": "Sent for a re-run on a higher tier"}


def _page() -> int:
    try:
        return max(1, int(request.args.get("page", "1")))
    except ValueError:
        return 1


def _queue_filter() -> QueueFilter:
    status = request.args.get("status", "pending")
    kind = request.args.get("kind", "")
    return QueueFilter(status=None if status == "all" else (status if status in STATUSES else "pending"),
                       kind=kind if kind in KINDS else None,
                       task_type=request.args.get("task_type") or None, reason=request.args.get("reason") or None,
                       older_than_minutes=AGE_CHOICES.get(request.args.get("age", ""), None),
                       search=request.args.get("q") or None, limit=PAGE_SIZE, offset=(_page() - 1) * PAGE_SIZE)


@bp.get("")
@login_required
def queue():
    flt = _queue_filter()
    items = list_reviews(db(), flt)
    total = count_reviews(db(), flt)
    page, pages = _page(), max(1, -(-total // PAGE_SIZE))
    links = {key: value for key, value in request.args.items() if key != "page"}
    return render_template("review_list.html", items=items, counts=queue_counts(db(), flt), flt=flt,
                           args=request.args, age_choices=AGE_CHOICES, statuses=STATUSES, kinds=KINDS,
                           age_seconds=age_seconds, reason_key=reason_key, reason_label=reason_label,
                           is_low_risk=is_low_risk, total=total, page=page, pages=pages, links=links, summarize=summarize,
                           first=flt.offset + 1 if items else 0, last=flt.offset + len(items))


@bp.post("/bulk-approve")
@login_required
def bulk_approve():
    """Approve the selected low-risk items as they are: one decision, so one callback, per item."""
    ids = request.form.getlist("review_id")
    approved, skipped = [], []
    for review_id in dict.fromkeys(ids):  # a repeated id is decided once
        try:
            review = get_review(db(), review_id)
        except NotFound:
            skipped.append(review_id)
            continue
        if not is_low_risk(review):
            skipped.append(review_id)
            continue
        try:
            decide(runtime(), db(), review_id, DecisionInput(action="approve", note="bulk approve"), current_reviewer().email)
        except (Conflict, ApiError):
            skipped.append(review_id)
            continue
        approved.append(review_id)
    message = f"Approved {len(approved)} item{'' if len(approved) == 1 else 's'}"
    if skipped:
        message += f"; skipped {len(skipped)} (already decided or not low-risk)"
    flash(message + ".")
    back = request.form.get("next", "")
    return redirect(back if back.startswith("/review") and "//" not in back else url_for("review.queue"))


@bp.get("/<review_id>")
@login_required
def item(review_id: str):
    return _render_item(review_id)


@bp.errorhandler(NotFound)
def _missing(exc: NotFound):
    return render_template("error.html", title="Not found", message=exc.message), 404


def _render_item(review_id: str, *, error: str | None = None, status: int = 200, form: dict | None = None):
    review = get_review(db(), review_id)
    rules = edit_rules(db(), review)
    shown = (form or {}).get("text", review.draft)
    return render_template("review_item.html", review=review, attempts=attempts_of(db(), review),
                           labels=rules.labels, picked_label=(form or {}).get("label") or current_label(rules, shown),
                           next_id=next_pending_id(db(), review), age=age_seconds(review), reason_key=reason_key,
                           reason_label=reason_label,
                           error=error, form=form or {}), status


@bp.post("/<review_id>/decision")
@login_required
def decision(review_id: str):
    form = request.form
    try:
        minutes = float(form["minutes_spent"]) if form.get("minutes_spent", "").strip() else None
    except ValueError:
        return _render_item(review_id, error="Minutes spent must be a number.", status=422, form=form)
    correct = {"1": True, "0": False}.get(form.get("correct", ""))
    text = form.get("text")
    if text is not None:
        text = text.replace("\r\n", "\n")  # browsers send a textarea's line breaks as CRLF
    review = get_review(db(), review_id)
    picked = form.get("label")
    if picked:  # the label picker: its choice goes into the (possibly edited) text
        rules = edit_rules(db(), review)
        base = text if text is not None else (review.draft or "")
        if rules.canonical_label(picked) is None:
            return _render_item(review_id, error=f"label: {picked!r} is not one of the request's labels: "
                                                 f"{', '.join(rules.labels or [])}", status=422, form=form)
        if current_label(rules, base) != rules.canonical_label(picked):
            text = with_label(base, rules.canonical_label(picked))
    if text is not None and text.strip() == (review.draft or "").strip():
        text = None  # unchanged: approve the draft as it is
    try:
        decided = decide(runtime(), db(), review_id, DecisionInput(action=form.get("action", ""), text=text, note=form.get("note"),
                                                        minutes_spent=minutes, correct=correct),
                         current_reviewer().email)
    except Conflict as exc:
        return _render_item(review_id, error=f"Conflict: {exc.message}", status=409)
    except ApiError as exc:
        return _render_item(review_id, error=exc.message, status=exc.status, form=form)
    message = ACTION_MESSAGES[decided.action]
    if decided.callback_url and decided.action != "rerun":
        message += " — the workflow's callback is on its way"
    flash(f"{message} ({decided.id}).")
    next_id = next_pending_id(db(), decided)
    return redirect(url_for("review.item", review_id=next_id) if next_id and form.get("then") != "list"
                    else url_for("review.queue"))


@bp.app_template_filter("humanize_age")
def humanize_age(seconds: float) -> str:
    """12 s, 5 min, 3 h 20 min, 2 d 4 h: how long an item has waited."""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h {minutes % 60} min" if minutes % 60 else f"{hours} h"
    return f"{hours // 24} d {hours % 24} h"
