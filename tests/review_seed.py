"""Rows the review and sampling tests start from: a flagged draft with its ledger, tier1 answers, reviewers."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from app.store import Attempt, Request, Review
from app.web.auth import create_reviewer

REVIEWER_EMAIL = "rita@example.com"
REVIEWER_PASSWORD = "correct horse battery"
CUSTOMER_MESSAGE = "Hi, my order #1042 arrived broken. Can I get a replacement? — Dana"
DRAFT_REPLY = "Hi Dana, sorry your order arrived damaged. We will send a replacement today."


def add_reviewer(store, email: str = REVIEWER_EMAIL, password: str = REVIEWER_PASSWORD, *, admin: bool = False) -> None:
    with store.session() as session:
        create_reviewer(session, email, password, admin=admin)


def add_flagged_draft(store, *, task_type: str = "support_reply", draft: str = DRAFT_REPLY,
                      input_text: str = CUSTOMER_MESSAGE, reasons=("external", "task_type_review"),
                      callback_url: str | None = None, tier: str = "tier2", created_at: datetime | None = None,
                      metadata: dict | None = None) -> str:
    """A needs_review fallback request as the cascade leaves it: ledger row, two attempts, review item."""
    with store.session() as session:
        request = Request(kind="fallback", task_type=task_type, tier=tier, model="claude-sonnet-4-6",
                          status="needs_review", payload={"task_type": task_type, "text": input_text, "external": True},
                          result={"output": draft}, needs_review=True, review_reasons=list(reasons),
                          callback_url=callback_url, cost_usd=Decimal("0.004"), baseline_cost_usd=Decimal("0.004"),
                          request_metadata=metadata or {})
        session.add(request)
        session.flush()
        session.add_all([
            Attempt(request_id=request.id, seq=1, purpose="escalation", tier="tier1", model="claude-haiku-4-5", ok=False,
                    gate="length", reason="shorter than 20 characters", input_tokens=120, output_tokens=6,
                    cost_usd=Decimal("0.00015"), output_text="Sorry!"),
            Attempt(request_id=request.id, seq=2, purpose="answer", tier=tier, model="claude-sonnet-4-6", ok=True,
                    input_tokens=180, output_tokens=40, cost_usd=Decimal("0.00114"), output_text=draft),
        ])
        review = Review(kind="draft", request_id=request.id, task_type=task_type, tier=tier, reasons=list(reasons),
                        input_text=input_text, draft=draft, callback_url=callback_url,
                        request_metadata=metadata or {}, **({"created_at": created_at} if created_at else {}))
        session.add(review)
        session.flush()
        return review.id


def add_tier1_answers(store, month: str, counts: dict[str, int]) -> None:
    """``counts[task_type]`` finished tier1 fallback answers in ``month`` (YYYY-MM)."""
    year, number = map(int, month.split("-"))
    with store.session() as session:
        for task_type, count in counts.items():
            for index in range(count):
                moment = datetime(year, number, 1 + index % 27, 12, index % 60, tzinfo=timezone.utc)
                session.add(Request(kind="fallback", task_type=task_type, tier="tier1", model="claude-haiku-4-5",
                                    status="done", created_at=moment,
                                    payload={"task_type": task_type, "text": f"{task_type} input {index}"},
                                    result={"output": f"{task_type} answer {index}"}))


def run_queued_jobs(app) -> None:
    """Run every queued job now in this process, as a worker would (burst mode, no fork).

    The caller patches ``workers.context._runtime`` to ``runtime_of(app)`` so the jobs find this test's app.
    """
    from rq import SimpleWorker

    job_queue = app.extensions["job_queue"]
    SimpleWorker([job_queue.queue], connection=job_queue.redis).work(burst=True, with_scheduler=False)
