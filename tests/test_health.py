"""Operator endpoints: liveness, readiness against real Redis and SQL, metrics, OpenAPI."""
from __future__ import annotations

from sqlalchemy import create_engine

from app.web.context import runtime_of


def test_healthz(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_readyz_checks_redis_and_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"]["redis"] == "ok" and response.get_json()["checks"]["database"] == "ok"


def test_readyz_reports_a_dead_database(client, app):
    store = runtime_of(app).store
    store.engine.dispose()
    store.engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 1})
    response = client.get("/readyz")
    assert response.status_code == 503 and response.get_json()["checks"]["database"].startswith("unreachable")


def test_metrics_count_route_decisions(client, auth):
    client.post("/v1/route", json={"task_type": "strategy", "text": "x"}, headers=auth)
    text = client.get("/metrics").get_data(as_text=True)
    assert 'tiergate_route_decisions_total{decided_by="rules",tier="tier3"}' in text
    assert "tiergate_http_requests_total" in text


def test_openapi_lists_the_route_endpoint_with_its_schema(client):
    document = client.get("/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    route = document["paths"]["/v1/route"]["post"]
    assert "application/x-www-form-urlencoded" in route["requestBody"]["content"]
    assert "task_type" in document["components"]["schemas"]["RouteRequest"]["properties"]
