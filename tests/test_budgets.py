"""Budgets that hold: 402 for a spent ``refuse`` budget, the floor tier for ``downgrade`` (then 402), never a
cent over the limit under 200 concurrent requests, one signed threshold callback, reports that reconcile
with the ledger, and the commands that set them."""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from app.api.auth import create_key
from app.money.budgets import first_call_upper_bound, set_budget
from app.cli import cli
from app.policy import load_policy
from app.providers.tokens import estimate_tokens
from app.store import Attempt, Decision, Request
from app.store.models import Budget
from app.reports.amounts import readable_usd
from tests.support.fake_anthropic import Reply
from tests.test_fallback_api import CALLBACK_SECRET, HAIKU, app, receiver, worker  # noqa: F401  (fixtures)

D = Decimal
POLICY = load_policy("app/policy/default.yaml")
TEXT = "Acme GmbH, 40 staff, orders every month: B2B or B2C?"
CONCURRENT_REQUESTS = 200
ROOM_FOR = 50
WAIT_SECONDS = 240


def to_max_tokens(body: dict) -> Reply:
    """A model that always writes until ``max_tokens``: the most a call can cost."""
    return Reply.ok("B2B", output_tokens=body["max_tokens"])


def new_key(app, budget: Decimal | None = None, action: str = "refuse", **options) -> tuple[int, dict[str, str]]:
    with app.extensions["store"].session() as session:
        key, plain = create_key(session, "budgeted", ["fallback", "admin"])
        if budget is not None:
            set_budget(session, "api_key", str(key.id), budget, action=action, **options)
        return key.id, {"X-API-Key": plain}


def budget_row(app, key_id: int) -> Budget:
    with app.extensions["store"].session() as session:
        return session.scalars(select(Budget).where(Budget.scope == "api_key", Budget.subject == str(key_id))).one()


def ledger_cost(app, *conditions) -> Decimal:
    with app.extensions["store"].session() as session:
        total = session.scalar(select(func.coalesce(func.sum(Attempt.cost_usd), 0))
                               .join(Request, Attempt.request_id == Request.id).where(*conditions))
        return D(str(total)).quantize(D("1e-8"))


def wait_until_finished(app, key_id: int) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    with app.extensions["store"].session() as session:
        while session.scalar(select(func.count()).select_from(Request).where(
                Request.api_key_id == key_id, Request.result.is_(None))):
            assert time.monotonic() < deadline, "the admitted requests did not finish"
            time.sleep(0.25)
            session.expire_all()


def post_all(client, headers, bodies) -> list:
    with ThreadPoolExecutor(max_workers=32) as pool:
        return list(pool.map(lambda body: client.post("/v1/fallback", headers=headers, json=body), bodies))


def task(n: int, **extra) -> dict:
    return {"task_type": "classification", "text": TEXT, "exec": "async",
            "metadata": {"workflow": "wf-a" if n % 2 else "wf-b", "row": n}, **extra}


def test_a_spent_refuse_budget_answers_402_naming_the_budget(client, app, fake_anthropic):
    key_id, headers = new_key(app, D("0.000001"))
    response = client.post("/v1/fallback", headers=headers, json={"task_type": "classification", "text": TEXT})
    assert response.status_code == 402
    error = response.get_json()["error"]
    assert error["code"] == "budget_exhausted" and error["field"] == "budget"
    assert f"monthly budget of api key {key_id}" in error["message"]
    assert fake_anthropic.requests == []  # no model was paid
    with app.extensions["store"].session() as session:
        assert session.scalar(select(func.count()).select_from(Request)) == 0


def test_200_concurrent_requests_never_exceed_a_refuse_budget(client, app, worker, receiver, fake_anthropic):
    fake_anthropic.responder = to_max_tokens  # every call costs close to the upper bound it holds
    bound = first_call_upper_bound(POLICY, "tier1", "classification", estimate_tokens(json.dumps(task(0))))
    limit = (bound * ROOM_FOR).quantize(D("1e-8"))
    key_id, headers = new_key(app, limit, alert_url=receiver.url + "/budget")  # alert at the default 80%
    responses = post_all(client, headers, [task(n) for n in range(CONCURRENT_REQUESTS)])
    statuses = [response.status_code for response in responses]
    refused = [response.get_json()["error"] for response in responses if response.status_code == 402]
    assert set(statuses) == {202, 402} and len(refused) == statuses.count(402)
    assert all(error["field"] == "budget" and f"api key {key_id}" in error["message"] for error in refused)
    admitted = statuses.count(202)
    # Each admission holds at least ``bound`` (its body as stored has a few more fields than ``task``).
    assert 0 < admitted <= ROOM_FOR, admitted
    wait_until_finished(app, key_id)

    # A second wave, one at a time, fills what the first left: never over the limit.
    for n in range(ROOM_FOR):
        if client.post("/v1/fallback", headers=headers, json=task(n)).status_code == 402:
            break
    wait_until_finished(app, key_id)
    budget = budget_row(app, key_id)
    spent = D(str(budget.spent_usd)).quantize(D("1e-8"))
    # Every call the provider served is booked on the budget (the ledger may miss a call the execution
    # path lost when a request ran twice, never the budget), and the budget is a hard cap.
    assert ledger_cost(app, Request.api_key_id == key_id) <= spent <= limit, (spent, limit)
    assert D(str(budget.reserved_usd)).quantize(D("1e-8")) == 0  # every hold was released

    (alert,) = [d for d in receiver.wait(1) if d.path == "/budget"]
    time.sleep(1.0)  # a second alert would have been sent by now
    assert len([d for d in receiver.deliveries if d.path == "/budget"]) == 1
    payload = json.loads(alert.body)
    assert payload["event"] == "budget.threshold" and payload["subject"] == str(key_id)
    signed = alert.headers["x-tiergate-timestamp"].encode() + b"." + alert.body
    assert alert.headers["x-tiergate-signature"] == "sha256=" + hmac.new(CALLBACK_SECRET.encode(), signed,
                                                                         hashlib.sha256).hexdigest()

    # The savings report by key and by workflow is the sum of every ledger row, to the micro-dollar.
    for group_by, conditions in (("api_key", lambda key: Request.api_key_id == int(key)),
                                 ("workflow", lambda key: Request.workflow == key)):
        report = client.get(f"/v1/reports/savings?group_by={group_by}", headers=headers).get_json()
        assert D(repr(report["total"]["cost_usd"])) == ledger_cost(app).quantize(D("1e-6"))
        for group in report["groups"]:
            assert D(repr(group["cost_usd"])) == ledger_cost(app, conditions(group["key"])).quantize(D("1e-6"))
    by_workflow = client.get("/v1/reports/savings?group_by=workflow", headers=headers).get_json()
    assert {group["key"] for group in by_workflow["groups"]} == {"wf-a", "wf-b"}


def test_concurrent_requests_on_a_spent_downgrade_budget_run_on_their_floor_then_stop(client, app, worker,
                                                                                       fake_anthropic):
    # A long input lifts a tier1 task to tier2 (not a safety floor); a spent downgrade budget brings it back
    # to the task's own tier1, and refuses once even tier1 has no room: the budget is still a cap.
    long_text = TEXT + " Details follow. " + "Order lines for pallets of fasteners. " * 900  # > 8,000 tokens
    body = {"task_type": "classification", "text": long_text, "exec": "async", "metadata": {"workflow": "wf-a"}}
    room = first_call_upper_bound(POLICY, "tier2", "classification", estimate_tokens(json.dumps(body))) * 3
    key_id, headers = new_key(app, room.quantize(D("1e-8")), action="downgrade")
    responses = post_all(client, headers, [body] * 40)
    statuses = [response.status_code for response in responses]
    assert set(statuses) == {202, 402}
    wait_until_finished(app, key_id)
    with app.extensions["store"].session() as session:
        decisions = session.execute(select(Decision.tier, Decision.reasons).where(Decision.api_key_id == key_id)).all()
    downgraded = [(tier, r) for tier, rs in decisions for r in rs if r["rule"] == "budget_downgrade"]
    assert len(decisions) == statuses.count(202) and 0 < len(downgraded) < len(decisions)
    assert all(tier == "tier1" and "tier2 -> tier1" in r["detail"] for tier, r in downgraded)
    budget = budget_row(app, key_id)
    assert room >= D(str(budget.spent_usd)).quantize(D("1e-8")) >= ledger_cost(app, Request.api_key_id == key_id) > 0
    assert D(str(budget.reserved_usd)).quantize(D("1e-8")) == 0


@pytest.fixture
def cli_env(app):
    settings = app.config["TIERGATE"]
    return {"DATABASE_URL": settings.database_url or settings.sqlalchemy_url, "TIERGATE_DATA_DIR": str(settings.data_dir),
            "REDIS_URL": settings.redis_url or ""}


def test_keys_create_with_a_budget_and_budgets_set_and_list(app, client, cli_env):
    runner = CliRunner()
    created = runner.invoke(cli, ["keys", "create", "--name", "zap", "--scopes", "fallback", "--budget", "25",
                                  "--on-budget", "downgrade", "--quiet"], env=cli_env)
    assert created.exit_code == 0, created.output
    (plain,) = created.output.split()  # --quiet: only the key
    assert plain.startswith("tg_")
    result = runner.invoke(cli, ["budgets", "set", "--workflow", "invoices", "--usd", "3", "--period", "day",
                                 "--alert-pct", "90"], env=cli_env)
    assert result.exit_code == 0, result.output
    bad = runner.invoke(cli, ["budgets", "set", "--usd", "3"], env=cli_env)
    assert bad.exit_code != 0 and "exactly one of --key or --workflow" in bad.output
    listed = runner.invoke(cli, ["budgets", "list"], env=cli_env).output
    assert "api_key" in listed and "25.00" in listed and "downgrade" in listed
    assert "workflow" in listed and "invoices" in listed and "3.00" in listed
    with app.extensions["store"].session() as session:
        rows = {(b.scope, b.period, b.action, D(str(b.limit_usd)), b.alert_pct) for b in session.scalars(select(Budget))}
    assert ("api_key", "month", "downgrade", D(25), 80) in rows and ("workflow", "day", "refuse", D(3), 90) in rows


def test_a_classify_list_counts_on_the_budgets_and_is_refused_once_they_are_spent(client, app, fake_anthropic):
    with app.extensions["store"].session() as session:
        _key, plain = create_key(session, "classify", ["classify"])
        set_budget(session, "workflow", "leads", D("0.05"))
    headers = {"X-API-Key": plain}
    body = {"items": ["Acme GmbH, 40 staff", "a birthday gift"], "labels": ["B2B", "B2C"],
            "metadata": {"workflow": "leads"}}
    answer = client.post("/v1/classify", headers=headers, json=body).get_json()
    assert answer["status"] in ("done", "needs_review") and answer["cost_usd"] > 0
    with app.extensions["store"].session() as session:
        workflow_budget = session.scalars(select(Budget).where(Budget.scope == "workflow")).one()
        assert D(str(workflow_budget.spent_usd)).quantize(D("1e-8")) == ledger_cost(app, Request.workflow == "leads")
        assert D(str(workflow_budget.reserved_usd)) == 0
        set_budget(session, "workflow", "leads", D(str(workflow_budget.spent_usd)))  # nothing left
    refused = client.post("/v1/classify", headers=headers, json=body)
    assert refused.status_code == 402 and "workflow leads" in refused.get_json()["error"]["message"]


def test_the_reports_page_shows_each_budget_spent_and_left(app, client, worker, fake_anthropic):
    from tests.test_reports_page import log_in

    key_id, headers = new_key(app, D("2.50"))
    with app.extensions["store"].session() as session:
        set_budget(session, "workflow", "invoices", D("10"), period="day", action="downgrade")
    answer = client.post("/v1/fallback", headers=headers, json={"task_type": "classification", "text": TEXT}).get_json()
    spent = D(str(budget_row(app, key_id).spent_usd))
    assert spent == D(repr(answer["cost_usd"])) > 0
    log_in(app, client)
    page = client.get("/reports").get_data(as_text=True)
    section = page[page.index("<h2>Budgets</h2>"):]
    assert f"api key {key_id}" in section and "workflow invoices" in section
    assert f"${readable_usd(spent)}" in section and f"${readable_usd(D('2.50') - spent)}" in section \
        and "$10.00" in section
