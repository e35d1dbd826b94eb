"""Liveness, readiness, metrics and the OpenAPI document: unauthenticated, for operators and probes."""
from __future__ import annotations

import os

from flask import Blueprint, Response, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

from app.web.context import runtime
from app.web.openapi import document, openapi_document

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    checks, ready = {}, True
    try:
        runtime().redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:  # any failure means "not ready"; the message says which
        checks["redis"], ready = f"unreachable: {type(exc).__name__}", False
    try:
        runtime().store.ping()
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"], ready = f"unreachable: {type(exc).__name__}", False
    checks["provider"] = "dry-run (no ANTHROPIC_API_KEY)" if runtime().settings.dry_run else "anthropic"
    return jsonify({"status": "ready" if ready else "not ready", "checks": checks}), 200 if ready else 503


@bp.get("/metrics")
def metrics():
    return metrics_response()


def metrics_response() -> Response:
    """The counters of ``app.metrics`` in Prometheus' text format (of every process, in multi-process mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


@bp.get("/openapi.json")
@bp.get("/v1/openapi.json")
def openapi():
    return jsonify(openapi_document())


document("/healthz", "get", "Liveness: the web process answers")
document("/readyz", "get", "Readiness: Redis and the database are reachable", responses={"200": "ready", "503": "not ready"})
document("/metrics", "get", "Prometheus metrics")
document("/openapi.json", "get", "This document")
