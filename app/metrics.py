"""Prometheus counters and histograms (served at /metrics by ``app.web.health``).

In multi-process gunicorn each worker has its own registry unless PROMETHEUS_MULTIPROC_DIR is set;
``tiergate up`` sets it to a folder in /dev/shm (memory; the data directory where there is none) so
/metrics shows the whole server: the files are mmapped, and on a full data disk they SIGBUSed the web.
"""
from __future__ import annotations

from prometheus_client import Counter, Histogram

HTTP_REQUESTS = Counter("tiergate_http_requests_total", "HTTP requests answered", ["endpoint", "status"])
HTTP_LATENCY = Histogram("tiergate_http_request_seconds", "HTTP request latency", ["endpoint"],
                         buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5, 30))
ROUTE_DECISIONS = Counter("tiergate_route_decisions_total", "Routing decisions", ["tier", "decided_by"])
MODEL_CALLS = Counter("tiergate_model_calls_total", "Model calls by outcome: ok, error, refused (budget), closed "
                      "(stream closed early)", ["model", "outcome"])
COST_USD = Counter("tiergate_cost_usd_total", "Provider cost in USD", ["model"])
