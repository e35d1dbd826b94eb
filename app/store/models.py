"""The durable record: API keys, routing decisions, the request ledger with its attempts, reviews,
reviewers and policy versions.

Money columns are ``Money``: ``NUMERIC(18, 8)`` on PostgreSQL, whole hundred-millionths of a dollar
(an INTEGER) on SQLite, whose NUMERIC is a float. Either way a column reads and writes ``Decimal``
and SQL sums are exact to the ledger's 8 places (migration 0008 converts SQLite rows written before).
The ledger's baseline rule (see ``Attempt.purpose``): a request's baseline cost is the cost of its
*answer* attempts' tokens on the baseline model, without cache or batch discount; retries, escalations
that were not kept, self-checks and router calls are overhead, paid in full and attributed as such.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import (JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, Numeric, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql import operators, type_api
from sqlalchemy.types import TypeDecorator

# The ledger's precision: 8 decimal places of a dollar (a hundredth of a micro-dollar), the unit SQLite stores.
LEDGER_DIGITS = 8
LEDGER_PLACES = Decimal(1).scaleb(-LEDGER_DIGITS)


class Money(TypeDecorator):
    """USD as ``Decimal``, stored exactly on every database.

    SQLite has no exact decimal type (its NUMERIC keeps a float), so there an amount is stored as an
    integer count of 1e-8 dollars and SQL ``SUM``, ``+`` and comparisons stay exact; PostgreSQL keeps
    ``NUMERIC(18, 8)``. Amounts are rounded half-even to 8 places on both, as NUMERIC(18, 8) does.
    """

    impl = Numeric(18, 8)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        return dialect.type_descriptor(BigInteger() if dialect.name == "sqlite" else Numeric(18, 8, asdecimal=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
        amount = amount.quantize(LEDGER_PLACES)
        return int(amount.scaleb(LEDGER_DIGITS)) if dialect.name == "sqlite" else amount

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-LEDGER_DIGITS)
        return Decimal(value)

    def coerce_compared_value(self, op, value):
        """Money added, subtracted or compared is money (stored alike); a factor (``spent * 100``) is a plain number."""
        if op in (operators.mul, operators.truediv, operators.floordiv):
            return type_api._resolve_value_to_type(value)
        return self


MONEY = Money()


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def new_id(prefix: str) -> str:
    """Readable, sortable-enough ids: ``dec_…``, ``req_…``, ``rev_…``."""
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, Decimal: MONEY, datetime: DateTime(timezone=True)}


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]

    @property
    def scope_set(self) -> set[str]:
        return {scope for scope in self.scopes.split(",") if scope}


class Decision(Base):
    """One routing decision (``/v1/route``, or the first step of a fallback/classify request)."""

    __tablename__ = "decisions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("dec"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    mode: Mapped[str] = mapped_column(String(10))
    task_type: Mapped[str] = mapped_column(String(100))
    task_type_source: Mapped[str] = mapped_column(String(10))
    decided_by: Mapped[str] = mapped_column(String(10))
    tier: Mapped[str] = mapped_column(String(20))
    model: Mapped[str] = mapped_column(String(100))
    confidence: Mapped[float]
    risk: Mapped[str] = mapped_column(String(10))
    external: Mapped[bool] = mapped_column(Boolean)
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False)
    reasons: Mapped[list[Any]] = mapped_column(JSON)
    input_tokens: Mapped[int]
    estimated_cost_usd: Mapped[Decimal]
    baseline_cost_usd: Mapped[Decimal]
    request_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)


class Request(Base):
    """The ledger entry of one fallback or classify request; the job id is this id.

    ``status``, ``owner`` and ``lease_until`` are the request's place in its lifecycle; only
    ``app.execution.lifecycle`` changes them (see there for the states and who may move a request on).
    """

    __tablename__ = "requests"
    __table_args__ = (Index("ix_requests_created_task", "created_at", "task_type"),
                      Index("ix_requests_status_lease", "status", "lease_until"),
                      # Idempotency-Key is checked here, in the database: a Redis flush must not make a
                      # retried webhook pay again.
                      Index("uq_requests_idempotency", "api_key_id", "idempotency_key", unique=True))

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("req"))
    kind: Mapped[str] = mapped_column(String(20))  # fallback | classify | route | rerun
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    finished_at: Mapped[datetime | None]
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"), index=True)
    decision_id: Mapped[str | None] = mapped_column(ForeignKey("decisions.id"))
    task_type: Mapped[str] = mapped_column(String(100))
    tier: Mapped[str | None] = mapped_column(String(20))
    model: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default="queued")  # queued|running|done|needs_review|failed
    owner: Mapped[str | None] = mapped_column(String(120))  # the process running it (status running)
    lease_until: Mapped[datetime | None]  # running: the owner's lease; queued: when to check the queue holds it
    exec_mode: Mapped[str] = mapped_column(String(10), default="sync")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False)
    review_reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    batch: Mapped[bool] = mapped_column(Boolean, default=False)
    cost_usd: Mapped[Decimal] = mapped_column(default=Decimal(0))
    baseline_cost_usd: Mapped[Decimal] = mapped_column(default=Decimal(0))
    # The baseline this request is measured against, as it stood when the request was accepted
    # (``record_baseline``): a later policy or price change does not relabel the past. USD per million tokens.
    baseline_model: Mapped[str | None] = mapped_column(String(100))
    baseline_input_price: Mapped[Decimal | None]
    baseline_output_price: Mapped[Decimal | None]
    latency_ms: Mapped[float | None]
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    callback_url: Mapped[str | None] = mapped_column(Text)
    workflow: Mapped[str | None] = mapped_column(String(200))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    idempotency_hash: Mapped[str | None] = mapped_column(String(64))
    request_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    # The task this row is overhead of: a router call (kind ``route``) or a reviewer's re-run (``rerun``).
    parent_request_id: Mapped[str | None] = mapped_column(String(40), index=True)

    attempts: Mapped[list["Attempt"]] = relationship(back_populates="request", order_by="Attempt.seq",
                                                     cascade="all, delete-orphan")

    def record_baseline(self, policy) -> None:
        """Write down the policy's baseline model and its list prices, as they are now."""
        price = policy.prices.price(policy.baseline_model)
        self.baseline_model, self.baseline_input_price, self.baseline_output_price = (
            policy.baseline_model, price.input, price.output)


class Attempt(Base):
    """One model call made for a request.

    ``purpose`` is what the call was for: ``answer`` (its output is the one returned), ``retry``,
    ``escalation`` (a stronger tier's try that was not kept), ``self_check``, ``router`` or ``rerun``
    (a reviewer's re-run: overhead of the original task).
    """

    __tablename__ = "attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    purpose: Mapped[str] = mapped_column(String(20), default="answer")
    tier: Mapped[str] = mapped_column(String(20))
    model: Mapped[str] = mapped_column(String(100))
    provider: Mapped[str] = mapped_column(String(40), default="anthropic")
    ok: Mapped[bool] = mapped_column(Boolean)
    gate: Mapped[str | None] = mapped_column(String(60))
    reason: Mapped[str | None] = mapped_column(Text)
    gate_results: Mapped[list[Any]] = mapped_column(JSON, default=list)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cache_read_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cache_write_tokens: Mapped[int] = mapped_column(Integer, default=0)  # 5 m + 1 h writes
    cache_write_1h_tokens: Mapped[int] = mapped_column(Integer, default=0)
    # Whose cache markers the call carried: "client" (a drop-in client's own), "tiergate", or NULL (none).
    cache_markers: Mapped[str | None] = mapped_column(String(10))
    batch: Mapped[bool] = mapped_column(Boolean, default=False)
    cost_usd: Mapped[Decimal] = mapped_column(default=Decimal(0))
    baseline_cost_usd: Mapped[Decimal] = mapped_column(default=Decimal(0))
    latency_ms: Mapped[float] = mapped_column(default=0.0)
    output_text: Mapped[str | None] = mapped_column(Text)

    request: Mapped[Request] = relationship(back_populates="attempts")


class Delivery(Base):
    """One callback in the outbox: written with the answer it carries, delivered until accepted or dead.

    ``status``: ``pending`` (due at ``next_attempt_at``), ``delivered`` or ``dead`` (gave up after the
    last retry; shown in the API and on the reports page so nobody waits in silence).
    """

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    request_id: Mapped[str | None] = mapped_column(String(40), index=True)
    review_id: Mapped[str | None] = mapped_column(String(40))
    event: Mapped[str] = mapped_column(String(40))
    url: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]


class ClassifyChunk(Base):
    """The answers of one chunk of a classify list, stored as it finishes.

    One row per chunk instead of rewriting the whole list's results on every chunk, so a list's
    storage cost grows with its length, not with its square.
    """

    __tablename__ = "classify_chunks"

    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), primary_key=True)
    start: Mapped[int] = mapped_column(Integer, primary_key=True)
    end: Mapped[int] = mapped_column(Integer)
    results: Mapped[list[Any]] = mapped_column(JSON)


class Review(Base):
    """An item waiting for (or decided by) a person: a flagged draft or a quality-audit sample."""

    __tablename__ = "reviews"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("rev"))
    kind: Mapped[str] = mapped_column(String(10), default="draft")  # draft | audit
    request_id: Mapped[str | None] = mapped_column(ForeignKey("requests.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)  # pending|approved|rejected|rerun
    task_type: Mapped[str] = mapped_column(String(100))
    tier: Mapped[str | None] = mapped_column(String(20))
    reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    input_text: Mapped[str | None] = mapped_column(Text)
    draft: Mapped[str | None] = mapped_column(Text)
    callback_url: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None]
    action: Mapped[str | None] = mapped_column(String(20))
    final_text: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    minutes_spent: Mapped[float | None]
    audit_month: Mapped[str | None] = mapped_column(String(7))
    audit_class: Mapped[str | None] = mapped_column(String(100))
    audit_correct: Mapped[bool | None] = mapped_column(Boolean)
    request_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)


REVIEWER_ROLE, ADMIN_ROLE = "reviewer", "admin"


class Reviewer(Base):
    __tablename__ = "reviewers"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # REVIEWER_ROLE works the queue; ADMIN_ROLE also changes the policy in force and manages reviewers.
    role: Mapped[str] = mapped_column(String(20), default=REVIEWER_ROLE, server_default=REVIEWER_ROLE)
    # A session cookie carries the version it was issued under; logging out moves it on, so a copy of
    # the cookie (kept by the browser, or stolen) no longer logs anyone in.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN_ROLE


class PolicyVersion(Base):
    """A stored policy document; the newest active one overrides the file. Rollback = reactivate."""

    __tablename__ = "policy_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    author: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str] = mapped_column(Text)
    content: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Budget(Base):
    """A spending limit per API key or per workflow, per month or day (``app.money.budgets``).

    ``spent_usd`` is settled spend of the current period (``period_key``), ``reserved_usd`` the estimates
    of calls in flight; both move only by conditional SQL updates.
    """

    __tablename__ = "budgets"
    __table_args__ = (UniqueConstraint("scope", "subject", "period", name="uq_budgets_scope_subject_period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(20))  # api_key | workflow
    subject: Mapped[str] = mapped_column(String(200))  # the key id, or the workflow name
    period: Mapped[str] = mapped_column(String(10), default="month")  # month | day
    limit_usd: Mapped[Decimal]
    action: Mapped[str] = mapped_column(String(20), default="refuse")  # refuse | downgrade
    alert_pct: Mapped[int] = mapped_column(Integer, default=80)  # 0: no alert
    alert_url: Mapped[str | None] = mapped_column(Text)
    period_key: Mapped[str] = mapped_column(String(10))
    spent_usd: Mapped[Decimal] = mapped_column(default=Decimal(0))
    reserved_usd: Mapped[Decimal] = mapped_column(default=Decimal(0))
    alerted_period: Mapped[str | None] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BudgetHold(Base):
    """What one request still holds of a budget's ``reserved_usd``."""

    __tablename__ = "budget_holds"

    request_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    budget_id: Mapped[int] = mapped_column(ForeignKey("budgets.id", ondelete="CASCADE"), primary_key=True)
    amount_usd: Mapped[Decimal] = mapped_column(default=Decimal(0))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def column_row(model, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` keyed by ``model``'s attribute names, re-keyed by its table's column keys (a Core
    INSERT or UPDATE of the table: no unit of work, the columns' types and defaults still apply)."""
    names = _column_keys(model)
    return {names[key]: value for key, value in values.items()}


def row_of(instance) -> dict[str, Any]:
    """The column values set on a new (not yet added) ORM object, keyed for a Core INSERT of its table;
    columns left unset get their defaults from the INSERT, as a flush would give them."""
    names, state = _column_keys(type(instance)), instance.__dict__
    return {column: state[key] for key, column in names.items() if key in state}


_COLUMN_KEYS: dict[type, dict[str, str]] = {}


def _column_keys(model) -> dict[str, str]:
    names = _COLUMN_KEYS.get(model)
    if names is None:
        from sqlalchemy import inspect

        names = _COLUMN_KEYS[model] = {prop.key: prop.columns[0].key for prop in inspect(model).column_attrs}
    return names

