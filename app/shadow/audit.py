"""Disagreements into the review queue, so a person decides who was right.

Each becomes an audit item (kind ``audit``) showing the delivered answer as the draft and the
baseline's answer and the comparator's reason in its reasons. It carries no ``audit_month``: it is
not part of the monthly stratified sample, whose wrong-answer rate must stay an unbiased estimate
(these items were chosen *because* the models disagreed).
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.reports.period import Period
from app.store import Review, ShadowComparison
from app.store.shadow import DISAGREE

RULE = "shadow_disagreement"


def send_to_review(session: Session, comparison: ShadowComparison) -> Review:
    """The disagreement's audit item (created once; a second call returns the same item)."""
    if comparison.review_id:
        return session.get(Review, comparison.review_id)
    detail = (f"{comparison.baseline_model} answered differently: {comparison.reason}\n\n"
              f"Baseline answer:\n{comparison.baseline_text}")
    review = Review(kind="audit", status="pending", request_id=comparison.request_id, task_type=comparison.task_type,
                    tier=comparison.answer_tier, reasons=[{"rule": RULE, "detail": detail}],
                    input_text=comparison.input_text, draft=comparison.answer_text,
                    request_metadata={"shadow_comparison_id": comparison.id, "baseline_model": comparison.baseline_model,
                                      "baseline_answer": comparison.baseline_text})
    session.add(review)
    session.flush()
    comparison.review_id = review.id
    return review


def send_disagreements(session: Session, period: Period, task_type: str | None = None) -> list[Review]:
    """Every disagreement of the window not sent yet, as audit items."""
    statement = select(ShadowComparison).where(ShadowComparison.status == DISAGREE,
                                               ShadowComparison.review_id.is_(None))
    if task_type:
        statement = statement.where(ShadowComparison.task_type == task_type)
    if period.start is not None:
        statement = statement.where(ShadowComparison.created_at >= period.start)
    if period.end is not None:
        statement = statement.where(ShadowComparison.created_at < period.end)
    return [send_to_review(session, row) for row in session.scalars(statement.order_by(ShadowComparison.created_at))]
