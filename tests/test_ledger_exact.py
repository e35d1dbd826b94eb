"""Issue 23, findings 5 and 6: the simulator prices what the ledger prices, and money that holds.

Prices (default policy, USD per million tokens): Haiku 1/5, Sonnet 3/15, Opus 5/25; cache write 1.25x
input for 5 minutes, 2x for an hour, cache read 0.1x, batch 0.5x. Baseline: Sonnet, plain price.

The ledger of May 2026 (``build``):

R1 classification  Haiku answer: in 2,000, 1 h cache write 8,000, out 500
     cost (2,000 + 8,000 x 2 + 500 x 5) / 1e6 = 0.0205; baseline (10,000 x 3 + 500 x 15) / 1e6 = 0.0375
     a retry on Haiku, in 1,000 out 100: (1,000 + 500) / 1e6 = 0.0015 overhead
     a shadow comparison on it: shadow 0.0375, judge 0.002 (their own line, never in the totals)
R2 classification  Haiku batch answer: in 20,000, cache read 10,000, out 4,000
     cost (20,000 + 1,000 + 20,000) / 1e6 x 0.5 = 0.0205; baseline (30,000 x 3 + 4,000 x 15) / 1e6 = 0.15
R3 extraction      retry Haiku in 3,000 out 300 = 0.0045; self-check Haiku in 500 out 50 = 0.00075;
     answer Sonnet in 4,000 out 600 = (12,000 + 9,000) / 1e6 = 0.021, baseline 0.021;
     its LLM router call (a ``route`` row) Haiku in 800 out 40 = 0.001; a reviewer's re-run (``rerun``)
     Sonnet in 4,000 out 600 = 0.021
R4 a /v1/route call in llm mode with no task: Haiku in 800 out 40 = 0.001

Totals: cost 0.0205 + 0.0015 + 0.0205 + 0.0045 + 0.00075 + 0.021 + 0.001 + 0.021 + 0.001 = 0.09175
        baseline 0.0375 + 0.15 + 0.021 = 0.2085; overhead 0.0015 + 0.0045 + 0.00075 + 0.001 + 0.021 + 0.001
        = 0.02975; saving 0.11675 (56.00%). Without the overhead a replay would say 0.06200 (70.26%).
"""
from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone
from decimal import Decimal

import pytest
import yaml
from alembic import command
from click.testing import CliRunner
from sqlalchemy import create_engine, func, insert, select, text

from app.cli import cli
from app.policy import load_policy
from app.pricing import Usage
from app.reports import parse_period, savings_report
from app.sampling.versions import file_policy_text, sync_policy
from app.simulate import read_log, simulate
from app.store import SHADOW_KIND, Attempt, PolicyVersion, Request, ShadowComparison, Store
from app.store.db import alembic_config
from app.store.models import Budget
from tests.support.fake_anthropic import Reply
from tests.test_fallback_api import HAIKU, SONNET, app, worker  # noqa: F401  (fixtures)

D = Decimal
POLICY = load_policy(None)
PRICES = POLICY.prices
MAY = {"from": "2026-05", "to": "2026-05"}
LEDGER_COST, LEDGER_BASELINE, LEDGER_OVERHEAD = D("0.09175"), D("0.2085"), D("0.02975")


def at(day: int) -> datetime:
    return datetime(2026, 5, day, 12, 0, tzinfo=timezone.utc)


def call(purpose, tier, model, tokens_in, tokens_out, *, read=0, write_1h=0, batch=False):
    usage = Usage(tokens_in, tokens_out, cache_write_tokens=write_1h, cache_read_tokens=read,
                  cache_write_1h_tokens=write_1h)
    return Attempt(purpose=purpose, tier=tier, model=model, ok=True, input_tokens=tokens_in, output_tokens=tokens_out,
                   cache_read_tokens=read, cache_write_tokens=write_1h, cache_write_1h_tokens=write_1h, batch=batch,
                   cost_usd=PRICES.cost(model, usage, batch=batch),
                   baseline_cost_usd=PRICES.plain_cost(POLICY.baseline_model, usage) if purpose == "answer" else D(0))


def add(session, day, task_type, attempts, *, kind="fallback", parent=None, batch=False) -> Request:
    for seq, attempt in enumerate(attempts, start=1):
        attempt.seq = seq
    answer = [attempt for attempt in attempts if attempt.purpose == "answer"]
    row = Request(kind=kind, created_at=at(day), task_type=task_type, status="done", payload={},
                  tier=attempts[-1].tier, model=attempts[-1].model, batch=batch, parent_request_id=parent,
                  cost_usd=sum((attempt.cost_usd for attempt in attempts), D(0)),
                  baseline_cost_usd=sum((attempt.baseline_cost_usd for attempt in answer), D(0)), attempts=attempts)
    if kind not in ("route", "rerun"):
        row.record_baseline(POLICY)
    session.add(row)
    session.flush()
    return row


def build(session) -> None:
    haiku, sonnet = POLICY.model_for("tier1"), POLICY.model_for("tier2")
    r1 = add(session, 3, "classification", [call("retry", "tier1", haiku, 1_000, 100),
                                            call("answer", "tier1", haiku, 2_000, 500, write_1h=8_000)])
    add(session, 4, "classification", [call("answer", "tier1", haiku, 20_000, 4_000, read=10_000, batch=True)], batch=True)
    r3 = add(session, 5, "extraction", [call("retry", "tier1", haiku, 3_000, 300),
                                        call("self_check", "tier1", haiku, 500, 50),
                                        call("answer", "tier2", sonnet, 4_000, 600)])
    add(session, 5, "extraction", [call("router", "tier1", haiku, 800, 40)], kind="route", parent=r3.id)
    add(session, 6, "extraction", [call("rerun", "tier2", sonnet, 4_000, 600)], kind="rerun", parent=r3.id)
    add(session, 7, "classification", [call("router", "tier1", haiku, 800, 40)], kind="route")
    shadow = add(session, 3, "classification", [call("shadow", "tier2", sonnet, 2_000, 500),
                                                call("judge", "tier2", sonnet, 500, 10)], kind=SHADOW_KIND)
    session.add(ShadowComparison(request_id=r1.id, ledger_request_id=shadow.id, created_at=at(3), month="2026-05",
                                 task_type="classification", comparator="judge", status="agree", answer_model=haiku,
                                 baseline_model=sonnet, shadow_cost_usd=D("0.0375"), judge_cost_usd=D("0.002")))


@pytest.fixture
def ledger(app):  # noqa: F811
    with app.extensions["store"].session() as session:
        build(session)


def test_the_per_request_export_carries_what_the_simulator_needs(client, auth, ledger):
    response = client.get("/v1/reports/requests", query_string={**MAY, "format": "csv"}, headers=auth)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = {row["task_type"] + ":" + row["kind"] + ":" + row["created_at"][:10]: row
            for row in csv.DictReader(io.StringIO(response.get_data(as_text=True)))}
    # Four rows: R1, R2, R3 with its router call and re-run folded in, and R4 on its own; no shadow row.
    assert len(rows) == 4
    r1 = rows["classification:fallback:2026-05-03"]
    assert (r1["tier"], r1["batch"], r1["baseline_model"], D(r1["baseline_input_price"]),
            D(r1["baseline_output_price"])) == ("tier1", "False", SONNET, D(3), D(15))
    assert (int(r1["input_tokens"]), int(r1["cache_write_1h_tokens"]), int(r1["cache_write_5m_tokens"])) == (10_000, 8_000, 0)
    assert (D(r1["cost_usd"]), D(r1["baseline_cost_usd"]), D(r1["retry_usd"])) == (D("0.0205"), D("0.0375"), D("0.0015"))
    assert (D(r1["shadow_usd"]), D(r1["judge_usd"])) == (D("0.0375"), D("0.002"))
    r2 = rows["classification:fallback:2026-05-04"]
    assert (r2["batch"], int(r2["input_tokens"]), int(r2["cache_read_tokens"]), D(r2["cost_usd"])) == (
        "True", 30_000, 10_000, D("0.0205"))
    r3 = rows["extraction:fallback:2026-05-05"]
    assert (D(r3["router_usd"]), D(r3["retry_usd"]), D(r3["self_check_usd"]), D(r3["rerun_usd"])) == (
        D("0.001"), D("0.0045"), D("0.00075"), D("0.021"))
    assert D(r3["overhead_usd"]) == D("0.02725") and D(r3["total_cost_usd"]) == D("0.04825")
    assert D(rows["classification:route:2026-05-07"]["router_usd"]) == D("0.001")
    body = client.get("/v1/reports/requests", query_string=MAY, headers=auth).get_json()
    totals = {name: D(repr(value)) for name, value in body["totals"].items()}
    assert (totals["cost_usd"], totals["baseline_cost_usd"], totals["overhead_usd"]) == (
        LEDGER_COST, LEDGER_BASELINE, LEDGER_OVERHEAD)
    savings = client.get("/v1/reports/savings", query_string=MAY, headers=auth).get_json()["total"]
    assert (D(repr(savings["cost_usd"])), D(repr(savings["baseline_cost_usd"]))) == (LEDGER_COST, LEDGER_BASELINE)


@pytest.mark.parametrize("params, field", [({"format": "xlsx"}, "format"), ({"from": "May"}, "from"),
                                           ({"from": "2026-06", "to": "2026-05"}, "from")])
def test_bad_export_parameters_name_the_field(client, auth, params, field):
    response = client.get("/v1/reports/requests", query_string=params, headers=auth)
    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == field


def test_replaying_the_export_reproduces_the_ledger(client, auth, ledger, tmp_path):
    """Overhead, 1 h writes and batch priced as the ledger priced them: the same totals, to the 1e-8 dollar."""
    path = tmp_path / "ledger.csv"
    path.write_text(client.get("/v1/reports/requests", query_string={**MAY, "format": "csv"},
                               headers=auth).get_data(as_text=True))
    result = simulate(read_log(path), POLICY)
    assert (result.before, result.after, result.levers.overhead) == (LEDGER_BASELINE, LEDGER_COST, LEDGER_OVERHEAD)
    assert abs(result.after - LEDGER_COST) / LEDGER_COST < D("0.01")
    assert result.requests == 3 and result.saving_pct == D("56.00")
    # The levers add up exactly; the batch discount is R2's alone: 0.0205 / 0.5 - 0.0205.
    assert result.levers.saving == result.saving and result.levers.batch == D("0.0205")
    # The JSON export replays the same.
    json_path = tmp_path / "ledger.json"
    json_path.write_text(json.dumps(client.get("/v1/reports/requests", query_string=MAY, headers=auth).get_json()))
    assert simulate(read_log(json_path), POLICY).after == LEDGER_COST


@pytest.mark.parametrize("column, value, message", [
    ("batch", "maybe", "batch must be true or false"),
    ("overhead_usd", "-0.01", "overhead_usd must be a number >= 0"),
    ("baseline_input_price", "three", "baseline_input_price must be a number"),
    ("cache_write_1h_tokens", "90000", "cache_read_tokens + cache_write_1h_tokens (100000) is part of the input"),
])
def test_a_bad_ledger_column_is_named_with_its_line(tmp_path, column, value, message):
    row = {"task_type": "classification", "tier": "tier1", "input_tokens": "30000", "output_tokens": "4000",
           "cache_read_tokens": "10000", "batch": "true", "overhead_usd": "0", "baseline_input_price": "3",
           "baseline_output_price": "15", column: value}
    path = tmp_path / "ledger.csv"
    path.write_text(",".join(row) + "\n" + ",".join(row.values()) + "\n")
    from app.simulate import LogError

    with pytest.raises(LogError) as error:
        read_log(path)
    assert f"ledger.csv:2: {message}" in str(error.value)


def test_the_cli_export_writes_the_same_rows(client, auth, ledger, app, monkeypatch, tmp_path):  # noqa: F811
    settings = app.config["TIERGATE"]
    monkeypatch.setenv("TIERGATE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("DATABASE_URL", settings.database_url or "")
    out = tmp_path / "export.csv"
    result = CliRunner().invoke(cli, ["export", "--from", "2026-05", "--to", "2026-05", "--out", str(out)])
    assert result.exit_code == 0, result.output
    api = client.get("/v1/reports/requests", query_string={**MAY, "format": "csv"}, headers=auth).get_data(as_text=True)
    assert out.read_text() == api
    replay = CliRunner().invoke(cli, ["simulate", str(out), "--json"])
    assert replay.exit_code == 0, replay.output
    figures = json.loads(replay.output)
    assert (D(repr(figures["before_usd"])), D(repr(figures["after_usd"])), figures["requests"]) == (
        LEDGER_BASELINE, LEDGER_COST, 3)
    assert D(repr(figures["attribution"]["overhead_usd"])) == LEDGER_OVERHEAD
    bad = CliRunner().invoke(cli, ["export", "--from", "May"])
    assert bad.exit_code == 2 and "--from" in bad.output


def test_the_savings_csv_carries_the_shadow_and_judge_lines(client, auth, ledger):
    body = client.get("/v1/reports/savings", query_string=MAY, headers=auth).get_json()
    rows = {row["key"]: row for row in csv.DictReader(io.StringIO(client.get(
        "/v1/reports/savings", query_string={**MAY, "format": "csv"}, headers=auth).get_data(as_text=True)))}
    assert (D(rows["shadow"]["cost_usd"]), D(rows["judge"]["cost_usd"])) == (D("0.0375"), D("0.002"))
    assert (D(repr(body["shadow"]["shadow_cost_usd"])), D(repr(body["shadow"]["judge_cost_usd"]))) == (
        D("0.0375"), D("0.002"))
    assert D(rows["total"]["cost_usd"]) == LEDGER_COST  # the shadow spend stays outside the total


def _new_policy_in_force(app) -> None:  # noqa: F811
    """Opus becomes the baseline and Haiku's input price drops to 0.8, as an operator's new version."""
    runtime = app.extensions["runtime"]
    document = yaml.safe_load(file_policy_text(runtime))
    document["baseline_model"] = "claude-opus-4-7"
    document["prices"]["models"][HAIKU]["input"] = 0.8
    with runtime.store.session() as session:
        session.add(PolicyVersion(author="owner@example.com", reason="new baseline and prices",
                                  content=yaml.safe_dump(document), active=True))
    sync_policy(runtime)


def test_a_policy_change_leaves_past_baselines_as_recorded(client, auth, app, worker, fake_anthropic):  # noqa: F811
    """Haiku answer, in 800 out 30: cost (800 + 150) / 1e6 = 0.00095; baseline on Sonnet (2,400 + 450) / 1e6 = 0.00285.

    After the change, a new baseline on Opus would be (4,000 + 750) / 1e6 = 0.00475, and today's Haiku
    price (640 + 150) / 1e6 = 0.00079 against the 0.00095 billed: main showed that 0.00016 as a
    negative "batch" saving on a call that never used the batch API.
    """
    fake_anthropic.script(HAIKU, Reply.ok('{"label": "B2B", "confidence": 0.9, "reason": "GmbH"}', 800, 30))
    answer = client.post("/v1/fallback", headers=auth, json={"task_type": "classification",
                                                              "text": "Acme GmbH, 40 staff: B2B or B2C?"}).get_json()
    assert (D(repr(answer["cost_usd"])), D(repr(answer["baseline_cost_usd"]))) == (D("0.00095"), D("0.00285"))
    _new_policy_in_force(app)
    assert app.extensions["runtime"].policy().baseline_model == "claude-opus-4-7"

    report = client.get("/v1/reports/savings", headers=auth).get_json()
    assert report["attribution"]["batch_usd"] == 0
    assert report["baseline_model"] == SONNET
    assert report["baselines"] == [{"model": SONNET, "requests": 1}]
    assert D(repr(report["total"]["baseline_cost_usd"])) == D("0.00285")
    row = client.get("/v1/reports/requests", headers=auth).get_json()["requests"][0]
    assert (row["baseline_model"], row["baseline_input_price"], row["baseline_output_price"]) == (SONNET, 3, 15)
    # The simulator, under today's policy, still measures that request against the baseline it had.
    log_in_page = client.get("/v1/reports/requests", query_string={"format": "csv"}, headers=auth).get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(log_in_page)))
    assert D(rows[0]["baseline_cost_usd"]) == D("0.00285")


def test_money_sums_exactly_on_every_database(app):  # noqa: F811
    """10,000 x $0.00000123 is $0.0123 and 10,000 x $12.34567891 is $123,456.7891, exactly.

    Before, SQLite kept the amounts as floats: the second sum came back as 123456.78910001.
    """
    store = app.extensions["store"]
    with store.session() as session:
        session.add(Request(id="req_sum", kind="fallback", task_type="classification", payload={}))
        session.flush()
        session.execute(insert(Attempt), [dict(request_id="req_sum", seq=n, tier="tier1", model=HAIKU, ok=True,
                                               cost_usd=D("0.00000123"), baseline_cost_usd=D("12.34567891"))
                                          for n in range(10_000)])
    with store.session() as session:
        cost, baseline = session.execute(select(func.sum(Attempt.cost_usd), func.sum(Attempt.baseline_cost_usd))).one()
        report = savings_report(session, POLICY, parse_period(None, None))
    assert (cost, baseline) == (D("0.0123"), D("123456.7891"))
    assert (report.total.cost, report.total.baseline) == (D("0.0123"), D("123456.7891"))


def test_the_migration_converts_float_money_on_sqlite(tmp_path):
    """Rows written as floats before revision 0008_money_exact read back as the same Decimals after it."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    store = Store(url)
    command.upgrade(alembic_config(store.engine), "0007")
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO budgets (scope, subject, period, limit_usd, action, alert_pct, period_key, "
                                "spent_usd, reserved_usd, created_at) VALUES ('workflow', 'w', 'day', 0.005, 'refuse', "
                                "80, '2026-05-01', 0.00123456, 0.1, '2026-05-01 00:00:00')"))
    engine.dispose()
    store.migrate()
    with store.session() as session:
        budget = session.scalars(select(Budget)).one()
        assert (budget.limit_usd, budget.spent_usd, budget.reserved_usd) == (D("0.005"), D("0.00123456"), D("0.1"))
        assert session.scalar(text("SELECT typeof(spent_usd) FROM budgets")) == "integer"
    store.dispose()


def test_a_half_cent_limit_reads_as_such(app, client, auth, monkeypatch):  # noqa: F811
    """A $0.005 daily limit: "0.005" in `tiergate budgets list` and on /reports, not 0.00 or $0.01; and "daily"."""
    settings = app.config["TIERGATE"]
    monkeypatch.setenv("TIERGATE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("DATABASE_URL", settings.database_url or "")
    made = CliRunner().invoke(cli, ["budgets", "set", "--workflow", "invoices", "--usd", "0.005", "--period", "day"])
    assert made.exit_code == 0, made.output
    listed = CliRunner().invoke(cli, ["budgets", "list"]).output
    line = next(line for line in listed.splitlines() if "invoices" in line)
    assert line.split()[4:7] == ["0.005", "0.00", "0.005"]  # limit, spent, left
    from tests.test_reports_page import log_in

    log_in(app, client)
    section = client.get("/reports").get_data(as_text=True).split("<h2>Budgets</h2>")[1]
    assert "$0.005<" in section and "$0.01<" not in section
    from app.money.budgets import budget_name

    with app.extensions["store"].session() as session:
        assert budget_name(session.scalars(select(Budget)).one()).startswith("daily budget of workflow invoices")
