"""GET /v1/reports/savings and /quality: the contract's fields, CSV reconciling with JSON, errors."""
from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from app import create_app
from app.api.auth import create_key
from app.config import load_settings
from tests.test_reports_ledger import build_ledger

D = Decimal
CONTRACT_FIELDS = {"requests", "cost_usd", "baseline_cost_usd", "saving_usd", "saving_pct"}
LEVERS = ("routing_usd", "caching_usd", "batch_usd", "overhead_usd")
WINDOW = {"from": "2026-05-01", "to": "2026-06-30"}


@pytest.fixture
def ledger(app):
    with app.extensions["store"].session() as session:
        return build_ledger(session)


def dec(value) -> Decimal:
    """A JSON number back to the Decimal it was printed from (6 places)."""
    return D(repr(value)).quantize(D("0.000001"))


def get(client, auth, **params):
    return client.get("/v1/reports/savings", query_string={**WINDOW, **params}, headers=auth)


def test_json_has_the_contract_fields_and_reconciles_exactly(client, auth, ledger):
    response = get(client, auth)
    assert response.status_code == 200
    body = response.get_json()
    assert CONTRACT_FIELDS <= body["total"].keys()
    assert set(body["attribution"]) == set(LEVERS)
    total, attribution = body["total"], body["attribution"]
    assert (total["requests"], total["cost_usd"], total["baseline_cost_usd"], total["saving_usd"], total["saving_pct"]) == (
        6, 1.4625, 3.192, 1.7295, 54.18)
    assert attribution == {"routing_usd": 1.352, "caching_usd": 0.285, "batch_usd": 0.205, "overhead_usd": 0.1125}
    assert dec(total["saving_usd"]) == (dec(attribution["routing_usd"]) + dec(attribution["caching_usd"])
                                        + dec(attribution["batch_usd"]) - dec(attribution["overhead_usd"]))
    assert [group["key"] for group in body["groups"]] == ["classification", "support_reply", "extraction"]
    for group in body["groups"]:
        assert CONTRACT_FIELDS | {"key", "attribution"} <= group.keys()
        levers = group["attribution"]
        assert dec(group["saving_usd"]) == dec(levers["routing_usd"]) + dec(levers["caching_usd"]) \
            + dec(levers["batch_usd"]) - dec(levers["overhead_usd"])
        assert dec(group["saving_usd"]) == dec(group["baseline_cost_usd"]) - dec(group["cost_usd"])


@pytest.mark.parametrize("group_by", ["task_type", "month", "api_key", "workflow"])
def test_csv_reconciles_with_json_in_every_grouping(client, auth, ledger, group_by):
    body = get(client, auth, group_by=group_by).get_json()
    response = get(client, auth, group_by=group_by, format="csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    # The JSON's shadow line closes the CSV as two rows, outside the total (app.reports.export.savings_csv).
    assert [row["key"] for row in rows] == [group["key"] for group in body["groups"]] + ["total", "shadow", "judge"]
    assert [D(row["cost_usd"]) for row in rows[-2:]] == [dec(body["shadow"]["shadow_cost_usd"]),
                                                          dec(body["shadow"]["judge_cost_usd"])]
    rows = rows[:-2]
    for row, group in zip(rows, body["groups"] + [{**body["total"], "attribution": body["attribution"]}]):
        assert int(row["requests"]) == group["requests"]
        for name in ("cost_usd", "baseline_cost_usd", "saving_usd"):
            assert D(row[name]) == dec(group[name])
        for name in LEVERS:
            assert D(row[name]) == dec(group["attribution"][name])
        assert D(row["saving_usd"]) == D(row["routing_usd"]) + D(row["caching_usd"]) + D(row["batch_usd"]) \
            - D(row["overhead_usd"])
    # The groups add up to the total row to the cent.
    for name in ("cost_usd", "baseline_cost_usd", "saving_usd", *LEVERS):
        assert sum(D(row[name]) for row in rows[:-1]).quantize(D("0.01")) == D(rows[-1][name]).quantize(D("0.01"))


@pytest.fixture
def app_with(settings):
    """Build an extra app on the same data with some settings changed."""
    apps = []

    def make(**overrides):
        app = create_app(load_settings(**{**settings.model_dump(by_alias=True), **overrides}), migrate=False)
        apps.append(app)
        return app
    yield make
    for app in apps:
        app.extensions["store"].dispose()


def test_display_currency_uses_the_configured_rate(app_with):
    app = app_with(TIERGATE_DISPLAY_CURRENCY="TWD", TIERGATE_DISPLAY_RATE=32.5)
    with app.extensions["store"].session() as session:
        build_ledger(session)
    with app.extensions["store"].session() as session:
        _key, plain = create_key(session, "owner", ["admin"])
    body = app.test_client().get("/v1/reports/savings", query_string=WINDOW, headers={"X-API-Key": plain}).get_json()
    assert (body["display_currency"]["code"], body["display_currency"]["rate"]) == ("TWD", 32.5)
    assert "one static rate for every period" in body["display_currency"]["note"]
    assert (body["total"]["cost_twd"], body["total"]["baseline_cost_twd"], body["total"]["saving_twd"]) == (
        47.53, 103.74, 56.21)  # 1.4625 x 32.5 = 47.53125, 3.192 x 32.5 = 103.74
    csv_text = app.test_client().get("/v1/reports/savings", query_string={**WINDOW, "format": "csv"},
                                     headers={"X-API-Key": plain}).get_data(as_text=True)
    assert "saving_twd" in csv_text.splitlines()[0]


@pytest.mark.parametrize("params, field", [
    ({"group_by": "model"}, "group_by"),
    ({"from": "last week"}, "from"),
    ({"to": "2026-13-01"}, "to"),
    ({"from": "2026-06-01", "to": "2026-05-01"}, "from"),
    ({"format": "xlsx"}, "format"),
])
def test_bad_parameters_are_422_naming_the_field(client, auth, params, field):
    response = client.get("/v1/reports/savings", query_string=params, headers=auth)
    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == field


def test_reports_need_the_admin_scope(client, make_key):
    assert client.get("/v1/reports/savings").status_code == 401
    route_only = make_key(["route", "fallback"])
    assert client.get("/v1/reports/savings", headers={"X-API-Key": route_only}).status_code == 403
    assert client.get("/v1/reports/savings", headers={"X-API-Key": make_key(["admin"])}).status_code == 200


def test_empty_ledger_reports_zeros(client, auth):
    body = client.get("/v1/reports/savings", headers=auth).get_json()
    assert body["total"] == {**body["total"], "requests": 0, "cost_usd": 0.0, "saving_pct": 0.0}
    assert body["groups"] == [] and body["attribution"] == dict.fromkeys(LEVERS, 0.0)


def test_quality_json_and_csv(client, auth, ledger):
    body = client.get("/v1/reports/quality", query_string=WINDOW, headers=auth).get_json()
    classes = {entry["task_type"]: entry for entry in body["classes"]}
    assert classes["extraction"]["escalation_pct"] == 100.0
    assert classes["support_reply"]["review_pct"] == 100.0
    rows = list(csv.DictReader(io.StringIO(client.get("/v1/reports/quality", query_string={**WINDOW, "format": "csv"},
                                                      headers=auth).get_data(as_text=True))))
    assert [row["task_type"] for row in rows] == [entry["task_type"] for entry in body["classes"]]
    assert [D(row["cost_usd"]) for row in rows] == [dec(entry["cost_usd"]) for entry in body["classes"]]


def test_openapi_lists_the_report_endpoints(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    assert {"/v1/reports/savings", "/v1/reports/quality"} <= paths.keys()
    parameters = {item["name"] for item in paths["/v1/reports/savings"]["get"]["parameters"]}
    assert parameters == {"from", "to", "group_by", "format"}
