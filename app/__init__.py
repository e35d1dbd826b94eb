"""Tiergate: the web application factory."""
from __future__ import annotations

import time

from flask import Flask, request

from app import shadow, web  # noqa: F401  (shadow: the sampler listens to delivered answers)
from app.notify import notifications
from app.api import bp as api_bp
from app.config import Settings, load_settings
from app.execution.runtime import Runtime
from app.metrics import HTTP_LATENCY, HTTP_REQUESTS
from app.money.budget_view import watch_budgets
from app.redact import install_log_redaction
from app.routing.learned import shipped_model
from app.sampling import ensure_monthly_schedule, sync_policy
from app.web import context, errors, health
from app.web.json import OrjsonProvider
from app.web.reports import bp as reports_bp

__all__ = ["create_app"]


def create_app(settings: Settings | None = None, *, migrate: bool = True) -> Flask:
    """Build the app on one ``Runtime`` (settings, store, queue, policy, providers), then the blueprints.

    Fails fast on a bad setting or policy.
    """
    settings = (settings or load_settings()).ensure_secrets()
    install_log_redaction()  # callback URLs carry tokens: no log line of this process shows them whole
    app = Flask(__name__)
    app.json = OrjsonProvider(app)  # answers written without the stdlib encoder's cost
    app.config.update(TIERGATE=settings, SECRET_KEY=settings.secret_key, MAX_CONTENT_LENGTH=settings.max_body_bytes,
                      JSON_SORT_KEYS=False)
    errors.init_app(app)
    rt = Runtime.build(settings, migrate=migrate)  # store, queue, the policy file, providers, LLM router
    notifications.watch(rt.store, settings)  # a new draft review tells the configured channels, in its transaction
    sync_policy(rt)  # a policy version an operator applied overrides the file
    watch_budgets(rt.store, rt.redis)  # which keys and workflows have a budget, kept current through Redis
    shipped_model()  # the router's weight file read now, not on each web process's first decision
    context.init_app(app, rt)  # the runtime, each request's session, the stored policy version re-checked

    app.register_blueprint(health.bp)
    app.register_blueprint(api_bp)
    web.init_app(app)  # reviewer login, CSRF, review pages, the shadow section of the reports page
    app.register_blueprint(reports_bp)
    ensure_monthly_schedule(rt)
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

