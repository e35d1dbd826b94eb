"""Tiergate: the web application factory."""
from __future__ import annotations

import time

from flask import Flask, request

from app import errors, providers, web
from app.reviews import notifications
from app.web import health
from app.execution import queue
from app.redact import install_log_redaction
from app.api import bp as api_bp
from app.config import Settings, load_settings
from app.metrics import HTTP_LATENCY, HTTP_REQUESTS
from app.policy import load_policy
from app.routing import hybrid
from app.routing.state import install_policy
from app.store.db import Store, init_app as init_store
from app.web.reports import bp as reports_bp
from app import shadow

__all__ = ["create_app"]


def create_app(settings: Settings | None = None, *, migrate: bool = True) -> Flask:
    """Build the app: settings, store, queue, policy, blueprints. Fails fast on a bad setting or policy."""
    settings = (settings or load_settings()).ensure_secrets()
    install_log_redaction()  # callback URLs carry tokens: no log line of this process shows them whole
    app = Flask(__name__)
    app.config.update(TIERGATE=settings, SECRET_KEY=settings.secret_key, MAX_CONTENT_LENGTH=settings.max_body_bytes,
                      JSON_SORT_KEYS=False)

    errors.init_app(app)
    store = Store(settings.sqlalchemy_url)
    if migrate:
        store.migrate()
    init_store(app, store)
    notifications.watch(store, settings)  # a new draft review tells the configured channels, in its transaction
    queue.init_app(app, queue.JobQueue(settings))
    install_policy(app, load_policy(settings.policy_path))
    providers.init_app(app)
    hybrid.init_app(app)  # the LLM router behind the llm and hybrid routing modes

    app.register_blueprint(health.bp)
    app.register_blueprint(api_bp)
    web.init_app(app)  # reviewer login, CSRF, review pages, the stored policy version
    app.register_blueprint(reports_bp)
    shadow.init_app(app)  # the shadow comparisons section of the reports page
    _count_requests(app)
    return app


def _count_requests(app: Flask) -> None:
    @app.before_request
    def _start_timer():
        request.environ["tiergate.started"] = time.perf_counter()
        request.environ["tiergate.arrived"] = time.monotonic()

    @app.after_request
    def _observe(response):
        endpoint = request.endpoint or "unmatched"
        HTTP_REQUESTS.labels(endpoint=endpoint, status=str(response.status_code)).inc()
        started = request.environ.get("tiergate.started")
        if started is not None:
            HTTP_LATENCY.labels(endpoint=endpoint).observe(time.perf_counter() - started)
        return response

