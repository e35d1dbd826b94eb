"""Liveness, readiness, metrics and the OpenAPI document: unauthenticated, for operators and probes."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from app.metrics import metrics_response
from app.web.openapi import document, openapi_document
from app.execution.queue import get_queue
from app.store import get_store

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    checks, ready = {}, True
    try:
        get_queue().redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:  # any failure means "not ready"; the message says which
        checks["redis"], ready = f"unreachable: {type(exc).__name__}", False
    try:
        get_store().ping()
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"], ready = f"unreachable: {type(exc).__name__}", False
    checks["provider"] = "dry-run (no ANTHROPIC_API_KEY)" if current_app.config["TIERGATE"].dry_run else "anthropic"
    return jsonify({"status": "ready" if ready else "not ready", "checks": checks}), 200 if ready else 503


@bp.get("/metrics")
def metrics():
    return metrics_response()


@bp.get("/openapi.json")
@bp.get("/v1/openapi.json")
def openapi():
    return jsonify(openapi_document())


document("/healthz", "get", "Liveness: the web process answers")
document("/readyz", "get", "Readiness: Redis and the database are reachable", responses={"200": "ready", "503": "not ready"})
document("/metrics", "get", "Prometheus metrics")
document("/openapi.json", "get", "This document")
