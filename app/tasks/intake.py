"""The one intake: how every entry point turns a request into a stored ledger row before anything runs.

``/v1/fallback``, ``/v1/classify``, ``/v1/chat/completions``, ``/v1/messages`` (plain and streamed) and
whatever comes next go through ``accept``, in this order:

1. **decide**: the entry point routes the request (its ``Ticket.admit`` gets the decision's cost);
2. **admit on budgets**: a spent ``refuse`` budget raises ``BudgetExhausted`` (402, before anything is
   stored or streamed); a ``downgrade`` budget moves the decision;
3. **idempotency**: the row carries the ``Idempotency-Key`` under a unique index; a repeat with the
   same body gets the first request's id back (``Accepted.replay_of``) and its admission is released,
   a different body is a 409;
4. **store**: the row is committed, leased to this process when it runs here (sync, streamed) or
   queued for the workers (async). The decision (``stage``), the request row and its lease are one
   write, plain INSERTs (no ORM unit of work) committed together with other requests arriving at the
   same time (``app.store.group_commit``); the request is answered only after that commit;
5. **run here or enqueue**: the entry point runs it (``app.tasks.runner.start_sync`` for one task, the
   list runner for a list) or ``enqueue`` puts it on the queue through the kinds registry.

A replay's answer comes from the ledger (``wait_for_answer``): no model is called twice.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.execution import idempotency, kinds, lifecycle
from app.execution.runtime import Runtime
from app.store import Request, new_id
from app.store.models import column_row, row_of
from app.tasks.turns import let_go, wait_turn

IN_PROCESS = ("sync", "stream")
# How often a replay of a request still running looks at the ledger for its answer.
REPLAY_POLL_SECONDS = 0.2
FINISHED = ("done", "needs_review", "failed")
# In ``session.info`` while an intake builds its row: the rows to commit with it (``stage``).
STAGED = "tiergate.intake.staged"


@dataclass
class Ticket:
    """What an entry point hands the intake: how to admit and how to build its kind's ledger row."""

    kind: str
    api_key_id: int | None
    exec_mode: str  # sync | async | stream
    body: dict[str, Any]  # the request as its idempotency hash is taken
    idempotency_key: str | None
    # Budgets: raises BudgetExhausted, may downgrade the decision; returns what ``build`` needs.
    admit: Callable[[str], Any]
    # The ledger row for ``(request_id, admitted)``; status, lease and idempotency are the intake's.
    build: Callable[[str, Any], Request]
    # Frees the admission of a request that will not run (a replay).
    release: Callable[[str], None]


@dataclass
class Accepted:
    """A stored request, or the earlier one it repeats."""

    request_id: str
    row: Request | None = None
    replay_of: str | None = None


def accept(rt: Runtime, session: Session, ticket: Ticket) -> Accepted:
    """Admit, check the Idempotency-Key and store; see the module docstring."""
    wait_turn()  # a burst of arrivals goes through here one per turn of the event loop (``app.tasks.turns``)
    request_id = new_id("req")
    admitted = ticket.admit(request_id)
    staged = session.info[STAGED] = []
    try:
        row = ticket.build(request_id, admitted)  # its decision is staged (``stage``), not written yet
    finally:
        session.info.pop(STAGED, None)
    row.kind = ticket.kind
    row.record_baseline(rt.policy())  # the baseline as it is today: reports never relabel the past
    if ticket.exec_mode in IN_PROCESS:
        row.status, row.owner, row.lease_until = lifecycle.RUNNING, rt.leases.owner, lifecycle.lease()
    else:
        row.status, row.owner = lifecycle.QUEUED, None
        row.lease_until = lifecycle.lease(lifecycle.QUEUE_CHECK_SECONDS)
    row.idempotency_key = idempotency.normalised(ticket.idempotency_key)
    row.idempotency_hash = idempotency.body_hash(ticket.body) if row.idempotency_key else None  # read only beside a key
    # Whatever the admission wrote in the request's session goes first: on SQLite an open write would hold
    # the lock the shared commit below waits for.
    if session.in_transaction():
        session.commit()
    try:
        earlier = idempotency.store_once(rt.store.group_commit, session, [*staged, (Request.__table__, row_of(row))],
                                         row, rt.settings.idempotency_ttl_seconds)
    finally:
        let_go()  # stored: the next arrival's intake may start (``app.tasks.turns``)
    if earlier is not None:
        ticket.release(request_id)
        return Accepted(request_id, replay_of=earlier)
    return Accepted(request_id, row=row)


def stage(session: Session, model, row: dict[str, Any]) -> bool:
    """Hold ``row`` (keyed by ``model``'s attribute names) to be committed with the request row of the intake
    running in ``session``; False when no intake is building a row there (the caller writes it itself)."""
    staged = session.info.get(STAGED)
    if staged is None:
        return False
    staged.append((model.__table__, column_row(model, row)))
    return True


def enqueue(rt: Runtime, kind: str, request_id: str) -> bool:
    """Put a stored request of ``kind`` on the queue; False when Redis is away (the sweeper queues it)."""
    return kinds.resume(rt, kind, request_id)


def wait_for_answer(rt: Runtime, request_id: str, until: float) -> dict[str, Any] | None:
    """The stored answer of ``request_id``, waiting (up to ``time.monotonic()`` ``until``) while the
    first copy of a repeated request is still running; None if it is not finished by then."""
    while True:
        with rt.store.session() as session:
            row = session.execute(select(Request.status, Request.result).where(Request.id == request_id)).first()
        if row is not None and row.result is not None and row.status in FINISHED:
            return row.result
        if time.monotonic() >= until:
            return None
        time.sleep(REPLAY_POLL_SECONDS)
