"""The shadow comparison table: one row per delivered answer that was also run on the baseline model.

A row is written when the request is sampled (status ``queued``, with an estimate of what the shadow
call will cost, so concurrent samples see each other against the type's monthly budget) and finished
by the shadow job (``agree``, ``disagree``, ``not_judged`` or ``failed``). What the shadow and judge
calls cost is also written to the request ledger as a request of kind ``shadow`` (``ledger_request_id``)
with attempts of purpose ``shadow`` and ``judge``: the budgets count it like any other spend, and the
savings report shows it on its own line instead of inside the saving.
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.store.models import Base, new_id, utcnow

# Request.kind of a shadow ledger row, and Attempt.purpose of its two kinds of call.
SHADOW_KIND = "shadow"
SHADOW_PURPOSE, JUDGE_PURPOSE = "shadow", "judge"
# ShadowComparison.status values.
QUEUED, AGREE, DISAGREE, NOT_JUDGED, FAILED = "queued", "agree", "disagree", "not_judged", "failed"


class ShadowComparison(Base):
    """A delivered answer, the baseline model's answer to the same input, and the comparator's verdict."""

    __tablename__ = "shadow_comparisons"
    __table_args__ = (Index("ix_shadow_comparisons_month_task", "month", "task_type"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("shc"))
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), index=True)
    item_index: Mapped[int | None]  # the row of a /v1/classify list; None for a single request
    ledger_request_id: Mapped[str | None] = mapped_column(ForeignKey("requests.id"))
    review_id: Mapped[str | None] = mapped_column(ForeignKey("reviews.id"))
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    finished_at: Mapped[datetime | None]
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM (UTC), the budget's month
    task_type: Mapped[str] = mapped_column(String(100))
    comparator: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default=QUEUED)
    answer_tier: Mapped[str | None] = mapped_column(String(20))
    answer_model: Mapped[str] = mapped_column(String(100))
    baseline_model: Mapped[str] = mapped_column(String(100))
    judge_model: Mapped[str | None] = mapped_column(String(100))
    input_text: Mapped[str | None] = mapped_column(Text)
    answer_text: Mapped[str | None] = mapped_column(Text)
    baseline_text: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    batch: Mapped[bool] = mapped_column(Boolean, default=False)
    batch_id: Mapped[str | None] = mapped_column(String(100))
    estimated_cost_usd: Mapped[Decimal] = mapped_column(default=Decimal(0))
    shadow_cost_usd: Mapped[Decimal] = mapped_column(default=Decimal(0))
    judge_cost_usd: Mapped[Decimal] = mapped_column(default=Decimal(0))

    @property
    def spent_usd(self) -> Decimal:
        return (self.shadow_cost_usd or Decimal(0)) + (self.judge_cost_usd or Decimal(0))
