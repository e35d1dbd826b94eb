"""Budgets per API key and per workflow: a hard cap, held before each model call and settled after, atomically.

A budget (``app.store.models.Budget``) limits the spend of one API key or one workflow
(``metadata.workflow``) per calendar month or day (UTC). Every spending path goes through a
``RequestSpend``, which the guarded call (``app.calls.Guards``) uses around each model call:

1. ``admit`` (before the request is stored): a cheap early refusal. Hold the first call's upper bound
   (``first_call_upper_bound``, counted on the request as sent) on every budget of the key and the
   workflow with one conditional ``UPDATE ... WHERE spent + reserved + amount <= limit`` per budget, in
   budget id order, in one transaction. A ``refuse`` budget without room raises ``BudgetExhausted``
   (HTTP 402 naming the budget); a ``downgrade`` budget without room holds the bound on the request's
   floor tier instead, and when that does not fit either, ``FloorReached`` (402, or held for review:
   ``rules.budget_floor_action``).
2. ``reserve`` (before every call, the first one too): hold the call's own upper bound
   (``app.calls.call_upper_bound``: everything it sends, ``max_tokens`` of output, cache writes) the
   same conditional way; the first call takes the admission hold over. No room: the call is not made.
3. ``settle`` (after each call): add the actual cost to ``spent`` and free the call's hold; ``release``
   frees what is left when the request ends.

Because no call goes out unless its upper bound is held, and no call costs more than its bound,
``spent`` never passes the limit, however many requests run at once. The database serialises the
conditional updates (a row lock on PostgreSQL, the write lock on SQLite), so this holds across web
processes and workers.

When settled spend first reaches ``alert_pct`` of the limit in a period, one signed ``budget.threshold``
callback goes to the budget's ``alert_url`` through the callback outbox; a conditional update on
``alerted_period``, in the same transaction as the outbox row, makes it exactly once.

Shadow calls, gateway calls or anything else that pays a model: ``spend = budgets_for(store).spend(
request_id, api_key_id=..., workflow=...)`` (or ``request_spend``), passed to ``Guards(spend=...)``;
``spend.release()`` at the end.
"""
from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Callable

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from app.errors import ApiError, InvalidField
from app.money.budget_view import mark_changed, view_of
from app.pricing import Usage, usd
from app.providers.tokens import estimate_tokens
from app.store.models import Budget, BudgetHold, Request

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
    mark_changed(session)  # its commit tells every process's budget view
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
    """What ``admit`` decided: the hold taken, the downgrade budget that had no room for the request's
    own tier (if any), and why the request is held for review instead of run (if it is)."""

    hold_usd: Decimal
    downgrade: str | None = None  # the name of the budget that asked for the cheapest tier
    held_for_review: str | None = None

    @property
    def reason(self) -> dict[str, str] | None:
        if self.held_for_review is not None:
            return {"rule": "budget_floor", "detail": self.held_for_review}
        if self.downgrade is None:
            return None
        return {"rule": "budget_downgrade", "detail": f"the {self.downgrade} is spent: running on the cheapest "
                                                      "tier its safety floor allows"}


class FloorReached(BudgetExhausted):
    """A ``downgrade`` budget has no room even on the cheapest tier the request's floor allows."""


class Budgets:
    """The budget ledger over a store; ``spend(...)`` gives the per-request guard."""

    def __init__(self, store, settings=None):
        self.store = store
        self.settings = settings

    def applicable(self, api_key_id: int | None, workflow: str | None) -> list[int]:
        """Ids of the budgets of this key and this workflow, in lock order (from this process's view of
        the budgets when it keeps one: no SQL for a request without a budget)."""
        if api_key_id is None and not workflow:
            return []
        view = view_of(self.store)
        ids = view.budget_ids(api_key_id, workflow) if view is not None else None
        if ids is not None:
            return ids
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

    def admit(self, request_id: str, *, api_key_id: int | None, workflow: str | None, estimate: Decimal,
              floor_estimate: Decimal | None = None, floor: str = "") -> Admission:
        """Hold the first call's upper bound ``estimate`` on every budget of the key and the workflow.

        A ``refuse`` budget without room raises ``BudgetExhausted``. A ``downgrade`` budget without room
        holds ``floor_estimate`` instead (the bound on the cheapest tier the request's ``floor`` allows);
        without one, or when that does not fit either, ``FloorReached`` (a ``BudgetExhausted``)."""
        ids = self.applicable(api_key_id, workflow)
        view = view_of(self.store)
        if view is not None:  # a sync run in this process guards its calls on the same budgets
            view.note_admitted(request_id, ids)
        if not ids:
            return Admission(ZERO)
        with self.store.session() as session:
            full = _hold_all(session, request_id, ids, estimate)
            if full is None:
                return Admission(estimate)
            if full.action == "refuse":
                raise BudgetExhausted(_spent_message(full, estimate), "budget")
            downgrade = budget_name(full)
            full = _hold_all(session, request_id, ids, floor_estimate) if floor_estimate is not None else full
            if full is None:
                return Admission(floor_estimate, downgrade)
        if full.action == "refuse":  # a refuse budget of the same request has no room on the floor either
            raise BudgetExhausted(_spent_message(full, floor_estimate or estimate), "budget")
        raise FloorReached(f"{_spent_message(full, floor_estimate or estimate)}; a downgrade budget never goes below "
                           f"{floor}", "budget")


class RequestSpend:
    """One request's guard around its model calls (the cascade's ``spend``).

    Each call holds its own upper bound (``app.calls.call_upper_bound``) from ``reserve`` to ``settle``;
    the request's ``BudgetHold`` rows are the sum of what its calls in flight hold, plus the admission
    hold until the first call takes it over. Calls of one request may run at once (a list's chunks)."""

    def __init__(self, budgets: Budgets, request_id: str, budget_ids: list[int]):
        self.budgets, self.request_id, self.ids = budgets, request_id, budget_ids
        self._lock = threading.Lock()  # one reservation at a time: the first call's takeover reads the hold
        self.admission_taken = False

    @property
    def bounded(self) -> bool:
        """Does any budget apply to the request? (Without one the guarded call counts no bounds.)"""
        return bool(self.ids)

    def reserve(self, model: str, estimate: Decimal) -> str | None:
        """Hold ``estimate`` (the call's upper bound) on every budget, or say why the call may not run.

        The first call takes over what the request already holds (the admission hold), so it needs
        only the difference; the condition ``spent + reserved + need <= limit`` is checked for every
        budget in one transaction, so concurrent calls never hold more than the limit between them."""
        if not self.ids:
            return None
        with self._lock, self.budgets.store.session() as session:
            _roll_periods(session, self.ids)
            held = self._held(session)
            need = estimate if self.admission_taken else estimate - held
            for budget_id in self.ids:
                if not _reserve(session, budget_id, need, strict=need > 0):
                    budget = session.get(Budget, budget_id)
                    session.rollback()
                    return (f"the {budget_name(budget)} has no room for another call on {model} "
                            f"(up to ${usd(estimate):g}; ${usd(_left(budget)):g} left)")
            self._hold(session, held + need)
            self.admission_taken = True
        return None

    def settle(self, estimate: Decimal, cost: Decimal, *, draw: bool = True) -> None:
        """Book the call's actual ``cost`` and free the ``estimate`` it held (``draw=False``: a call
        that held nothing, e.g. a batch already settled by its own hold)."""
        if not self.ids:
            return
        deliveries = []
        with self.budgets.store.session() as session:
            _roll_periods(session, self.ids)
            held = self._held(session)
            drawn = min(held, estimate) if draw else ZERO
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
            if amount <= 0:  # nothing held any more: no row left behind
                if hold is not None:
                    session.delete(hold)
            elif hold is None:
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


def _hold_all(session: Session, request_id: str, ids: list[int], amount: Decimal) -> Budget | None:
    """Hold ``amount`` for the request on every budget, or on none: returns the first budget without
    room (the transaction is rolled back) or None (held)."""
    _roll_periods(session, ids)
    for budget_id in ids:
        if not _reserve(session, budget_id, amount, strict=True):
            budget = session.get(Budget, budget_id)
            session.refresh(budget)
            session.expunge(budget)  # read for the message after the rollback
            session.rollback()
            return budget
    for budget_id in ids:
        session.add(BudgetHold(request_id=request_id, budget_id=budget_id, amount_usd=amount))
    return None


def _spent_message(budget: Budget, estimate: Decimal) -> str:
    return (f"the {budget_name(budget)} is spent: ${usd(_dec(budget.spent_usd)):g} of "
            f"${usd(_dec(budget.limit_usd)):g} used this {budget.period}, ${usd(_dec(budget.reserved_usd)):g} "
            f"reserved by requests in flight; this request may cost up to ${usd(estimate):g}")


def _left(budget: Budget) -> Decimal:
    return max(ZERO, _dec(budget.limit_usd) - _dec(budget.spent_usd) - _dec(budget.reserved_usd))


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
                  task_type: str, request_tokens: int | Callable[[], int], max_tokens: int | None = None,
                  floor: str | None = None, settings=None) -> tuple[str, Admission]:
    """Admission of a task request before it is queued: the tier to run on and the hold.

    ``request_tokens`` may be a function: it is counted only when a budget applies.

    The hold is the first call's upper bound (``first_call_upper_bound``): a cheap early refusal; each
    call then holds its own bound (``RequestSpend.reserve``). A spent ``refuse`` budget raises
    ``BudgetExhausted``. A spent ``downgrade`` budget moves the request to ``floor`` (the cheapest tier
    its task type, risk and content allow) when that fits; when it does not, the policy's
    ``rules.budget_floor_action`` says: ``refuse`` (``FloorReached``, 402) or ``review`` (held for a
    reviewer, nothing held, no model called).
    """
    budgets = budgets_for(store, settings)
    if not budgets.applicable(api_key_id, workflow):  # no budget: nothing to hold, no bound to count
        return tier, budgets.admit(request_id, api_key_id=api_key_id, workflow=workflow, estimate=ZERO)
    if callable(request_tokens):
        request_tokens = request_tokens()
    floor = floor or tier
    estimate = first_call_upper_bound(policy, tier, task_type, request_tokens, max_tokens)
    lower = policy.tier_rank(floor) < policy.tier_rank(tier)
    floor_estimate = first_call_upper_bound(policy, floor, task_type, request_tokens, max_tokens) if lower else None
    try:
        admission = budgets.admit(request_id, api_key_id=api_key_id, workflow=workflow,
                                  estimate=estimate, floor_estimate=floor_estimate, floor=floor)
    except FloorReached as exc:
        if policy.rules.budget_floor_action != "review":
            raise
        return tier, Admission(ZERO, held_for_review=f"{exc.message}: held for review (budget_floor_action: review)")
    return (floor if admission.downgrade is not None else tier), admission


def floor_tier(policy, task_type: str, reasons: list[dict[str, str]]) -> str:
    """The cheapest tier a budget may move a request to: its task type's own tier (the safe middle for
    an unknown type), raised by high risk and sensitive content as the routing rules raised it."""
    task = policy.task_types.get(task_type)
    tier = task.tier if task is not None else policy.rules.unknown_task_tier
    rules = {reason["rule"] for reason in reasons}
    if "high_risk" in rules:
        tier = policy.at_least(tier, policy.rules.high_risk_min_tier)
    if "sensitive_content" in rules:
        tier = policy.at_least(tier, policy.rules.sensitive.min_tier)
    return tier


def admit_list(store, policy, request_id: str, body, api_key_id: int | None, chunk_size: int,
               settings=None) -> Admission:
    """Admission of a ``/v1/classify`` list: its first chunk's upper bound is held (or 402). A list
    already runs on its task type's own tier, its floor: a spent ``downgrade`` budget refuses it."""
    from app.money.overhead import workflow_of  # overhead builds on this module

    task = policy.task_types.get(body.task_type)
    tier = task.tier if task is not None else policy.tier_order[0]
    first_chunk = estimate_tokens(json.dumps(body.items[:chunk_size], ensure_ascii=False, default=str))
    return budgets_for(store, settings).admit(
        request_id, api_key_id=api_key_id, workflow=workflow_of(body.metadata), floor=tier,
        estimate=first_call_upper_bound(policy, tier, body.task_type, first_chunk))


def first_call_upper_bound(policy, tier: str, task_type: str, request_tokens: int, max_tokens: int | None = None) -> Decimal:
    """The first call's upper bound before it is built: the request (``request_tokens``, counted on it as
    sent) at the plain input price, the task prompt (the cached prefix) at the cache-write price, the
    answer limit at the output price (the call itself then holds ``call_upper_bound``)."""
    task = policy.task_types.get(task_type)
    prompt = estimate_tokens(task.prompt) if task is not None else 0
    tokens_out = max_tokens or (task.max_output_tokens if task is not None and task.max_output_tokens
                                else policy.tiers[tier].max_output_tokens)
    return policy.prices.cost(policy.model_for(tier), Usage(input_tokens=request_tokens, cache_write_tokens=prompt,
                                                            output_tokens=tokens_out))


def request_spend(store, request_id: str, settings=None, *, admission_taken: bool = False,
                  owner: tuple[int | None, str | None] | None = None) -> RequestSpend:
    """The guard of a stored request, on the budgets of its API key and workflow: those it was admitted
    on when this process admitted it, else ``owner``'s when the caller has them at hand, else read from
    the ledger row (not read at all when no budget exists).
    ``admission_taken``: what the request holds is not its admission, e.g. a submitted batch's holds."""
    budgets = budgets_for(store, settings)
    view = view_of(store)
    admitted = view.take_admitted(request_id) if view is not None else None
    if admitted is not None:  # admitted by this process a moment ago: its budgets as of its arrival
        spend = RequestSpend(budgets, request_id, admitted)
        spend.admission_taken = admission_taken
        return spend
    if owner is None and view is not None and view.any_budget() is False:
        owner = (None, None)
    if owner is None:
        with store.session() as session:
            row = session.execute(select(Request.api_key_id, Request.workflow).where(Request.id == request_id)).first()
        owner = (row.api_key_id, row.workflow) if row is not None else (None, None)
    spend = budgets.spend(request_id, api_key_id=owner[0], workflow=owner[1])
    spend.admission_taken = admission_taken
    return spend


def budgets_for(store, settings=None) -> Budgets:
    """The budget ledger of ``store`` (built per use: it holds no state of its own); ``settings`` lets a
    threshold callback go out at once (without, the sweeper delivers it)."""
    return Budgets(store, settings)


__all__ = ["ACTIONS", "PERIODS", "SCOPES", "Admission", "BudgetExhausted", "FloorReached", "BudgetStatus", "Budgets", "RequestSpend",
           "admit_list", "admit_request", "budgets_for", "request_spend", "first_call_upper_bound", "floor_tier", "list_budgets", "period_key", "queue_callback", "set_budget"]
