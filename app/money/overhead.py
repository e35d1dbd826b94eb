"""Overhead attributed to the task that caused it: the LLM router's call and a reviewer's re-run.

Both are ledger rows of their own (``requests`` of kind ``route`` or ``rerun``) linked to the task by
``parent_request_id`` and carrying its API key and workflow, so per-key and per-workflow reports count
their cost as overhead of that task, never as a task of their own (``app.reports.ledger``). Every
attempt of a re-run has purpose ``rerun`` and no baseline: the original task already carries the
baseline, and a second answer to the same task saves nothing.

The task's answer (``/v1/fallback`` and ``GET /v1/jobs``) shows the total: its own attempts plus this
overhead, under ``overhead``.
"""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.money.budgets import RequestSpend, admit_request, budgets_for, floor_tier
from app.pricing import usd
from app.providers.tokens import estimate_tokens
from app.store import new_id
from app.store.models import Request

OVERHEAD_KINDS = ("route", "rerun")
RERUN_PURPOSE = "rerun"
# On a stored decision: why a spent downgrade budget held the request for a reviewer instead of running it.
HELD_FOR_REVIEW = "held_for_review"


def workflow_of(metadata: dict[str, Any] | None) -> str | None:
    """The workflow a request belongs to: ``metadata.workflow``, as the ledger stores it."""
    return str((metadata or {}).get("workflow") or "")[:200] or None


def admit_task(session: Session, store, policy, decision, request_id: str, api_key_id: int | None,
               metadata: dict[str, Any] | None, sent: dict[str, Any], settings=None,
               max_tokens: int | None = None) -> dict[str, Any]:
    """Budgets and router overhead of a new task, between its routing decision and its ledger row.

    Commits the caller's session first (a router call already made is paid, and booked, whatever the
    budget says), then admits the request on the upper bound of its first call, counted on ``sent`` (the
    request as the client sent it: text, knowledge, brand rules, schema, labels, messages):
    ``BudgetExhausted`` -> 402; a spent ``downgrade`` budget moves ``decision`` to its floor tier, or holds
    it for review, and says so in its reasons. Returns the fields to keep on the stored decision.
    """
    if session.in_transaction():  # an empty commit still costs a transaction's bookkeeping
        session.commit()
    workflow = workflow_of(metadata)
    router_id = getattr(decision, "router_request_id", None)
    router_cost = Decimal(str(getattr(decision, "router_cost_usd", 0) or 0)) if router_id else Decimal(0)
    if router_id:
        session.execute(update(Request).where(Request.id == router_id)
                        .values(parent_request_id=request_id, api_key_id=api_key_id, workflow=workflow)
                        .execution_options(synchronize_session=False))
        session.commit()
    tier, admission = admit_request(store, policy, request_id, api_key_id=api_key_id, workflow=workflow,
                                    tier=decision.tier, task_type=decision.task_type,
                                    request_tokens=lambda: estimate_tokens(json.dumps(sent, ensure_ascii=False,
                                                                                      default=str)),
                                    max_tokens=max_tokens, settings=settings,
                                    floor=floor_tier(policy, decision.task_type, decision.reasons))
    fields = {"router_request_id": router_id, "router_cost_usd": str(router_cost)} if router_id else {}
    if admission.held_for_review is not None:  # never streamed live: the runner answers "held for review"
        decision.reasons.append(admission.reason)
        decision.needs_review = True
        decision.review_reasons.append(admission.reason["rule"])
        return {**fields, HELD_FOR_REVIEW: admission.held_for_review}
    if admission.reason is not None:
        decision.reasons.append({**admission.reason, "detail": admission.reason["detail"]
                                 + (f" ({decision.tier} -> {tier})" if tier != decision.tier else "")})
        decision.tier, decision.model = tier, policy.model_for(tier)
    return fields


def router_spend(store, api_key_id: int | None, metadata: dict[str, Any] | None, settings=None) -> RequestSpend:
    """The budget guard of an LLM-router call, on the key's and workflow's budgets: the call holds its
    upper bound before it is paid, so a spent budget refuses it (the rules decide, nothing is paid)."""
    return budgets_for(store, settings).spend(new_id("route"), api_key_id=api_key_id, workflow=workflow_of(metadata))


def release_admission(store, request_id: str, api_key_id: int | None, metadata: dict[str, Any] | None,
                      settings=None) -> None:
    """Free the hold of a request that will not run (an idempotent replay of an earlier one)."""
    budgets_for(store, settings).spend(request_id, api_key_id=api_key_id, workflow=workflow_of(metadata)).release()


def with_overhead(session: Session | None, request_id: str, answer: dict[str, Any],
                  decision: dict[str, Any] | None = None) -> dict[str, Any]:
    """The answer with its overhead (router call, re-runs) in ``overhead`` and in ``cost_usd``.

    ``answer["own_cost_usd"]`` keeps the task's own attempts; ``cost_usd`` and ``saving_usd`` are the
    totals. Re-runs are read from the ledger (``session``), the router call from the stored decision.
    """
    if answer is None:
        return answer
    own = Decimal(str(answer.get("own_cost_usd", answer.get("cost_usd") or 0)))
    items = []
    if decision and decision.get("router_request_id"):
        items.append({"kind": "route", "request_id": decision["router_request_id"],
                      "cost_usd": usd(Decimal(decision.get("router_cost_usd") or 0))})
    if session is not None:
        known = {item["request_id"] for item in items}
        rows = session.execute(select(Request.id, Request.kind, Request.cost_usd)
                               .where(Request.parent_request_id == request_id, Request.kind.in_(OVERHEAD_KINDS))
                               .order_by(Request.created_at)).all()
        items += [{"kind": kind, "request_id": rid, "cost_usd": usd(Decimal(str(cost or 0)))}
                  for rid, kind, cost in rows if rid not in known]
    if not items:
        return answer
    extra = sum((Decimal(str(item["cost_usd"])) for item in items), Decimal(0))
    baseline = Decimal(str(answer.get("baseline_cost_usd") or 0))
    return {**answer, "own_cost_usd": usd(own), "overhead": {"cost_usd": usd(extra), "items": items},
            "cost_usd": usd(own + extra), "saving_usd": usd(baseline - own - extra)}


def overhead_cost(session: Session, request_id: str) -> Decimal:
    """What the task's linked overhead rows cost (for reports and tests)."""
    total = session.scalar(select(func.coalesce(func.sum(Request.cost_usd), 0))
                           .where(Request.parent_request_id == request_id, Request.kind.in_(OVERHEAD_KINDS)))
    return Decimal(str(total or 0))
