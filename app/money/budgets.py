"""Budgets per API key and per workflow: reserved before a model call, settled after, atomically.

A budget (``app.store.models.Budget``) limits the spend of one API key or one workflow
(``metadata.workflow``) per calendar month or day (UTC). Every spending path goes through a
``RequestSpend``, which the cascade calls around each model call (``run_cascade(..., spend=...)``):

1. ``admit`` (before the request is queued): reserve the first call's estimate on every budget of the
   key and the workflow with one conditional ``UPDATE ... WHERE spent + reserved + estimate <= limit``
   per budget, in budget id order, in one transaction. A ``refuse`` budget without room raises
   ``BudgetExhausted`` (HTTP 402 naming the budget); a ``downgrade`` budget without room reserves
   anyway and tells the caller to run on the cheapest tier the task type allows.
2. ``reserve`` (before each further call: retry, escalation, self-check): extend the hold the same
   conditional way; no room ends the run there (the cascade keeps what it has as a draft).
3. ``settle`` (after each call): add the actual cost to ``spent`` and draw the hold down; ``release``
   frees what is left of the hold when the request ends.

Because a call runs only once its estimate fits, concurrent requests overshoot a budget by at most
what their calls cost above their estimates; a ``downgrade`` budget keeps serving on the cheapest tier
past its limit (that is what the operator chose). The database serialises the conditional updates
(a row lock on PostgreSQL, the write lock on SQLite), so this holds across web processes and workers.

When settled spend first reaches ``alert_pct`` of the limit in a period, one signed ``budget.threshold``
callback goes to the budget's ``alert_url`` through the callback outbox; a conditional update on
``alerted_period``, in the same transaction as the outbox row, makes it exactly once.

Shadow calls, gateway calls or anything else that pays a model: ``spend = budgets_for(store).spend(
request_id, api_key_id=..., workflow=...)``, then ``spend.reserve(model, estimate)`` / ``spend.settle(
estimate, cost)`` around the call (or pass ``spend`` to ``run_cascade``), and ``spend.release()`` at
the end.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from app.errors import ApiError, InvalidField
from app.pricing import usd
from app.store.models import Budget, BudgetHold

log = logging.getLogger(__name__)

SCOPES = ("api_key", "workflow")
PERIODS = ("month", "day")
ACTIONS = ("refuse", "downgrade")
DEFAULT_ALERT_PCT = 80
THRESHOLD_EVENT = "budget.threshold"
ZERO = Decimal(0)



class BudgetExhausted(ApiError):
    """A ``refuse`` budget has no room for the request (HTTP 402)."""

    status, code = 402, "budget_exhausted"


def period_key(period: str, now: datetime | None = None) -> str:
    """``YYYY-MM`` for a monthly budget, ``YYYY-MM-DD`` for a daily one (UTC)."""
    now = now or datetime.now(timezone.utc)
    return now.strftime("%Y-%m" if period == "month" else "%Y-%m-%d")


def budget_name(budget: Budget) -> str:
    return f"{'daily' if budget.period == 'day' else 'monthly'} budget of {budget.scope.replace('_', ' ')} {budget.subject}"


def queue_callback(session: Session, url: str, payload: dict[str, Any], settings) -> int | None:
    """The one place budgets send a signed callback: into the outbox, in the caller's transaction (the
    alert is claimed and queued together, or neither). Delivered right after the commit when this
    process knows its settings, else by the sweeper. None when the target is refused."""
    from app.execution import outbox
    from app.execution.callbacks import CallbackRefused, check_target

    if settings is not None:
        try:
            check_target(url, settings.allowed_callback_hosts)
        except CallbackRefused as exc:
            log.warning("budget.threshold callback not sent: %s", exc.message)
            return None
    return outbox.add(session, url, payload).id


# -- configuration -------------------------------------------------------------------------------

def set_budget(session: Session, scope: str, subject: str, limit_usd: Decimal, *, period: str = "month",
               action: str = "refuse", alert_pct: int = DEFAULT_ALERT_PCT, alert_url: str | None = None) -> Budget:
    """Create or change the budget of ``scope``/``subject`` for ``period``; spend so far is kept."""
    for value, allowed, name in ((scope, SCOPES, "scope"), (period, PERIODS, "period"), (action, ACTIONS, "action")):
        if value not in allowed:
            raise InvalidField(f"{name} must be one of {', '.join(allowed)}", name)
    if limit_usd is None or Decimal(limit_usd) <= 0:
        raise InvalidField("the budget must be a positive amount in USD", "budget")
    if not 0 <= int(alert_pct) <= 100:
        raise InvalidField("alert_pct must be between 0 and 100", "alert_pct")
    budget = session.scalar(select(Budget).where(Budget.scope == scope, Budget.subject == str(subject),
                                                 Budget.period == period))
    if budget is None:
        budget = Budget(scope=scope, subject=str(subject), period=period, period_key=period_key(period),
                        spent_usd=ZERO, reserved_usd=ZERO)
        session.add(budget)
    budget.limit_usd, budget.action, budget.alert_pct, budget.alert_url = Decimal(limit_usd), action, int(alert_pct), alert_url
    session.flush()
    return budget


@dataclass(frozen=True)
class BudgetStatus:
    """A budget as the reports page and ``tiergate budgets list`` show it."""

    id: int
    name: str
    scope: str
    subject: str
    period: str
    period_key: str
    action: str
    limit_usd: Decimal
    spent_usd: Decimal
    reserved_usd: Decimal
    alert_pct: int

    @property
    def left_usd(self) -> Decimal:
        return max(ZERO, self.limit_usd - self.spent_usd)

    @property
    def used_pct(self) -> float:
        return round(float(self.spent_usd / self.limit_usd * 100), 1) if self.limit_usd else 0.0


def list_budgets(session: Session) -> list[BudgetStatus]:
    """Every budget with this period's spend (a budget not touched yet this period shows zero)."""
    rows = session.scalars(select(Budget).order_by(Budget.scope, Budget.subject, Budget.period)).all()
    statuses = []
    for row in rows:
        fresh = row.period_key != period_key(row.period)
        statuses.append(BudgetStatus(row.id, budget_name(row), row.scope, row.subject, row.period,
                                     period_key(row.period), row.action, _dec(row.limit_usd),
                                     ZERO if fresh else _dec(row.spent_usd), _dec(row.reserved_usd), row.alert_pct))
    return statuses


def _dec(value) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal("1e-8"))


# -- spending ------------------------------------------------------------------------------------

@dataclass
class Admission:
    """What ``admit`` decided: the hold taken, and the downgrade budget that had no room (if any)."""

    hold_usd: Decimal
    downgrade: str | None = None  # the name of the budget that asked for the cheapest tier

    @property
    def reason(self) -> dict[str, str] | None:
        if self.downgrade is None:
            return None
        return {"rule": "budget_downgrade", "detail": f"the {self.downgrade} is spent: running on the cheapest "
                                                      "tier the task type allows"}


class Budgets:
    """The budget ledger over a store; ``spend(...)`` gives the per-request guard."""

    def __init__(self, store, settings=None):
        self.store = store
        self.settings = settings

    def applicable(self, api_key_id: int | None, workflow: str | None) -> list[int]:
        """Ids of the budgets of this key and this workflow, in lock order."""
        subjects = []
        if api_key_id is not None:
            subjects.append((Budget.scope == "api_key") & (Budget.subject == str(api_key_id)))
        if workflow:
            subjects.append((Budget.scope == "workflow") & (Budget.subject == workflow))
        if not subjects:
            return []
        with self.store.session() as session:
            return list(session.scalars(select(Budget.id).where(or_(*subjects)).order_by(Budget.id)))

    def spend(self, request_id: str, *, api_key_id: int | None, workflow: str | None) -> "RequestSpend":
        return RequestSpend(self, request_id, self.applicable(api_key_id, workflow))

    def admit(self, request_id: str, *, api_key_id: int | None, workflow: str | None, estimate: Decimal) -> Admission:
        """Reserve the first call's estimate, or raise ``BudgetExhausted`` for a ``refuse`` budget."""
        ids = self.applicable(api_key_id, workflow)
        if not ids:
            return Admission(ZERO)
        downgrade = None
        with self.store.session() as session:
            _roll_periods(session, ids)
            for budget_id in ids:
                if _reserve(session, budget_id, estimate, strict=True):
                    continue
                budget = session.get(Budget, budget_id)
                if budget.action == "refuse":
                    session.rollback()
                    raise BudgetExhausted(
                        f"the {budget_name(budget)} is spent: ${usd(_dec(budget.spent_usd)):g} of "
                        f"${usd(_dec(budget.limit_usd)):g} used this {budget.period}, "
                        f"${usd(_dec(budget.reserved_usd)):g} reserved by requests in flight; this request "
                        f"needs about ${usd(estimate):g}", "budget")
                downgrade = downgrade or budget_name(budget)
                _reserve(session, budget_id, estimate, strict=False)
            for budget_id in ids:
                session.add(BudgetHold(request_id=request_id, budget_id=budget_id, amount_usd=estimate))
        return Admission(estimate, downgrade)


class RequestSpend:
    """One request's guard around its model calls (the cascade's ``spend``)."""

    def __init__(self, budgets: Budgets, request_id: str, budget_ids: list[int]):
        self.budgets, self.request_id, self.ids = budgets, request_id, budget_ids
        self.first_call = True

    def reserve(self, model: str, estimate: Decimal) -> str | None:
        """Make sure ``estimate`` is held; returns why the call may not run, or None.

        The first call of an admitted request runs on the hold ``admit`` took (its estimate was made
        from the same text a moment earlier)."""
        if not self.ids:
            return None
        first, self.first_call = self.first_call, False
        with self.budgets.store.session() as session:
            _roll_periods(session, self.ids)
            held = self._held(session)
            need = estimate - held
            if need <= 0 or (first and held > 0):
                return None
            for budget_id in self.ids:
                if not _reserve(session, budget_id, need, strict=True):
                    budget = session.get(Budget, budget_id)
                    session.rollback()
                    return f"the {budget_name(budget)} has no room for another call on {model} (about ${usd(estimate):g})"
            self._hold(session, held + need)
        return None

    def settle(self, estimate: Decimal, cost: Decimal, *, draw: bool = True) -> None:
        """Book the call's actual ``cost`` and draw the hold down by it (``draw=False``: a call made
        before the request was admitted, e.g. its router call, that held nothing)."""
        if not self.ids:
            return
        deliveries = []
        with self.budgets.store.session() as session:
            _roll_periods(session, self.ids)
            held = self._held(session)
            drawn = min(held, cost) if draw else ZERO
            for budget_id in self.ids:
                session.execute(update(Budget).where(Budget.id == budget_id)
                                .values(spent_usd=Budget.spent_usd + cost, reserved_usd=Budget.reserved_usd - drawn)
                                .execution_options(synchronize_session=False))
            self._hold(session, held - drawn)
            for budget_id in self.ids:
                alert = _claim_alert(session, budget_id)
                if alert is not None:
                    delivery = queue_callback(session, *alert, self.budgets.settings)
                    deliveries += [delivery] if delivery is not None else []
        if deliveries and self.budgets.settings is not None:
            from app.execution import outbox

            outbox.kick(self.budgets.store, self.budgets.settings, deliveries)

    def release(self) -> None:
        """Free what the request still holds (it has finished, or failed)."""
        if not self.ids:
            return
        with self.budgets.store.session() as session:
            # Budget rows in id order, as everywhere: two transactions never wait on each other in a circle.
            holds = session.scalars(select(BudgetHold).where(BudgetHold.request_id == self.request_id)
                                    .order_by(BudgetHold.budget_id)).all()
            for hold in holds:
                session.execute(update(Budget).where(Budget.id == hold.budget_id)
                                .values(reserved_usd=Budget.reserved_usd - hold.amount_usd)
                                .execution_options(synchronize_session=False))
            session.execute(delete(BudgetHold).where(BudgetHold.request_id == self.request_id))

    def _held(self, session: Session) -> Decimal:
        amounts = session.scalars(select(BudgetHold.amount_usd).where(BudgetHold.request_id == self.request_id)).all()
        return min((_dec(amount) for amount in amounts), default=ZERO)

    def _hold(self, session: Session, amount: Decimal) -> None:
        for budget_id in self.ids:
            hold = session.get(BudgetHold, (self.request_id, budget_id))
            if hold is None and amount <= 0:
                continue
            if hold is None:
                session.add(BudgetHold(request_id=self.request_id, budget_id=budget_id, amount_usd=amount))
            else:
                hold.amount_usd = amount


def _roll_periods(session: Session, ids: list[int]) -> None:
    """A budget entering a new month or day starts from zero spend (holds in flight stay reserved).

    Runs first in every spending transaction: it is a write, so on SQLite the transaction holds the
    write lock from here on instead of failing to upgrade a read lock later.
    """
    for period in PERIODS:
        current = period_key(period)
        session.execute(update(Budget).where(Budget.id.in_(ids), Budget.period == period, Budget.period_key != current)
                        .values(period_key=current, spent_usd=ZERO, alerted_period=None)
                        .execution_options(synchronize_session=False))


def _reserve(session: Session, budget_id: int, amount: Decimal, *, strict: bool) -> bool:
    statement = update(Budget).where(Budget.id == budget_id)
    if strict:
        statement = statement.where(Budget.spent_usd + Budget.reserved_usd + amount <= Budget.limit_usd)
    result = session.execute(statement.values(reserved_usd=Budget.reserved_usd + amount)
                             .execution_options(synchronize_session=False))
    return result.rowcount == 1


def _claim_alert(session: Session, budget_id: int) -> tuple[str, dict[str, Any]] | None:
    """Mark the threshold alert of this period as sent, once; returns what to send."""
    claimed = session.execute(
        update(Budget).where(Budget.id == budget_id, Budget.alert_pct > 0, Budget.alert_url.is_not(None),
                             or_(Budget.alerted_period.is_(None), Budget.alerted_period != Budget.period_key),
                             Budget.spent_usd * 100 >= Budget.limit_usd * Budget.alert_pct)
        .values(alerted_period=Budget.period_key).execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        return None
    budget = session.get(Budget, budget_id)
    session.refresh(budget)
    spent, limit = _dec(budget.spent_usd), _dec(budget.limit_usd)
    return budget.alert_url, {
        "event": THRESHOLD_EVENT, "budget_id": budget.id, "budget": budget_name(budget), "scope": budget.scope,
        "subject": budget.subject, "period": budget.period, "period_key": budget.period_key,
        "action": budget.action, "alert_pct": budget.alert_pct, "limit_usd": usd(limit), "spent_usd": usd(spent),
        "left_usd": usd(max(ZERO, limit - spent))}


def admit_request(store, policy, request_id: str, *, api_key_id: int | None, workflow: str | None, tier: str,
                  task_type: str, input_tokens: int, router_cost: Decimal = ZERO,
                  settings=None) -> tuple[str, Admission]:
    """Admission of a task request before it is queued: the tier to run on and the hold.

    Raises ``BudgetExhausted`` for a spent ``refuse`` budget. A spent ``downgrade`` budget moves the
    request to the cheapest tier its task type allows (the type's own tier; the safe middle for an
    unknown type). A router call already made for the request is booked here.
    """
    budgets = budgets_for(store, settings)
    estimate = first_call_estimate(policy, tier, task_type, input_tokens)
    try:
        admission = budgets.admit(request_id, api_key_id=api_key_id, workflow=workflow, estimate=estimate)
    finally:
        if router_cost:
            budgets.spend(request_id, api_key_id=api_key_id, workflow=workflow).settle(ZERO, router_cost, draw=False)
    if admission.downgrade is not None:
        task = policy.task_types.get(task_type)
        cheapest = task.tier if task is not None else policy.rules.unknown_task_tier
        if policy.tier_rank(cheapest) < policy.tier_rank(tier):
            tier = cheapest
    return tier, admission


def admit_list(store, policy, request_id: str, body, api_key_id: int | None, chunk_size: int,
               settings=None) -> Admission:
    """Admission of a ``/v1/classify`` list: its first chunk's estimate is held (or 402). A list already
    runs on its task type's own tier, so a spent ``downgrade`` budget lets it run there."""
    from app.money.overhead import workflow_of
    from app.providers.tokens import estimate_tokens

    task = policy.task_types.get(body.task_type)
    tier = task.tier if task is not None else policy.tier_order[0]
    first_chunk = sum(estimate_tokens(str(item)) for item in body.items[:chunk_size])
    return budgets_for(store, settings).admit(request_id, api_key_id=api_key_id, workflow=workflow_of(body.metadata),
                                    estimate=first_call_estimate(policy, tier, body.task_type, first_chunk))


def first_call_estimate(policy, tier: str, task_type: str, input_tokens: int) -> Decimal:
    """The first call's cost before it runs: the task prompt and the input at the plain input price,
    the expected answer at the output price (the cascade's ``call_estimate`` on the same text)."""
    from app.pricing import Usage
    from app.providers.tokens import estimate_tokens

    task = policy.task_types.get(task_type)
    tokens_in = input_tokens + (estimate_tokens(task.prompt) if task is not None else 0)
    tokens_out = (task.expected_output_tokens if task is not None and task.expected_output_tokens
                  else max(64, tokens_in // 4))
    return policy.prices.plain_cost(policy.model_for(tier), Usage(input_tokens=tokens_in, output_tokens=tokens_out))


def request_spend(store, request_id: str, settings=None) -> RequestSpend:
    """The guard of a stored request, with its API key and workflow read from the ledger row."""
    from app.store.models import Request

    with store.session() as session:
        row = session.execute(select(Request.api_key_id, Request.workflow).where(Request.id == request_id)).first()
    api_key_id, workflow = (row.api_key_id, row.workflow) if row is not None else (None, None)
    return budgets_for(store, settings).spend(request_id, api_key_id=api_key_id, workflow=workflow)


def budgets_for(store, settings=None) -> Budgets:
    """The budget ledger of ``store`` (built per use: it holds no state of its own); ``settings`` lets a
    threshold callback go out at once (without, the sweeper delivers it)."""
    return Budgets(store, settings)


__all__ = ["ACTIONS", "PERIODS", "SCOPES", "Admission", "BudgetExhausted", "BudgetStatus", "Budgets", "RequestSpend",
           "admit_list", "admit_request", "budgets_for", "request_spend", "first_call_estimate", "list_budgets", "period_key", "queue_callback", "set_budget"]
