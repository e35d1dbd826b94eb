"""Prometheus metrics, served at /metrics.

In multi-process gunicorn each worker has its own registry unless PROMETHEUS_MULTIPROC_DIR is set;
``tiergate up`` sets it to a folder in the data directory so /metrics shows the whole server.
"""
from __future__ import annotations

import os
import time

from flask import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client import REGISTRY

HTTP_REQUESTS = Counter("tiergate_http_requests_total", "HTTP requests answered", ["endpoint", "status"])
HTTP_LATENCY = Histogram("tiergate_http_request_seconds", "HTTP request latency", ["endpoint"],
                         buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5, 30))
ROUTE_DECISIONS = Counter("tiergate_route_decisions_total", "Routing decisions", ["tier", "decided_by"])
MODEL_CALLS = Counter("tiergate_model_calls_total", "Model calls by outcome: ok, error, refused (budget), closed "
                      "(stream closed early)", ["model", "outcome"])
COST_USD = Counter("tiergate_cost_usd_total", "Provider cost in USD", ["model"])


def arrival() -> float:
    """When this HTTP request arrived, in ``time.monotonic()`` seconds (set first thing by the app)."""
    from flask import request

    return request.environ.get("tiergate.arrived") or time.monotonic()


def metrics_response() -> Response:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
