"""The Flask glue between a request and the process's ``Runtime``: the only place services meet Flask.

The app keeps one ``Runtime`` (``app.extensions["runtime"]``); views get it with ``runtime()``, the
request's database session with ``db()`` (closed when the request ends) and the policy in force with
``current_policy()``. Services below the web layer take the runtime, session or policy as arguments.
"""
from __future__ import annotations

import logging
import time

from flask import Flask, current_app, g, request
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.execution.runtime import Runtime
from app.policy import Policy
from app.tasks import turns

log = logging.getLogger(__name__)


def runtime_of(app: Flask) -> Runtime:
    """The runtime ``create_app`` built for ``app``."""
    app = app._get_current_object() if hasattr(app, "_get_current_object") else app  # not the request proxy
    return app.extensions["runtime"]


def runtime() -> Runtime:
    """The runtime of the app serving this request."""
    return current_app.extensions["runtime"]


def db() -> Session:
    """The request's session; closed when the request ends. Commit explicitly."""
    if "db_session" not in g:
        g.db_session = runtime().store.sessions()
    return g.db_session


def current_policy() -> Policy:
    """The policy in force as this request reads it (an operator may swap it between requests)."""
    return runtime().policy()


def arrival() -> float:
    """When this HTTP request arrived, in ``time.monotonic()`` seconds (set first thing by the app)."""
    return request.environ.get("tiergate.arrived") or time.monotonic()


# The endpoints that call a model (their intake is the heavy part of a burst).
TAKES_TURNS = frozenset({"api.fallback", "api.classify", "api.chat_completions", "api.messages", "api.responses"})


def init_app(app: Flask, rt: Runtime) -> None:
    """Keep ``rt`` on the app, close each request's session, and keep the process on the stored policy
    version in force (re-checked every ``POLICY_SYNC_SECONDS``, before a request)."""
    from app.sampling import POLICY_SYNC_SECONDS, sync_policy

    app.extensions["runtime"] = rt
    # Read-only conveniences (tests, scripts): the store and the queue never change for the app's life.
    app.extensions["store"], app.extensions["job_queue"] = rt.store, rt.job_queue
    checked = {"at": time.monotonic()}

    @app.before_request
    def _sync_policy():
        if time.monotonic() - checked["at"] >= POLICY_SYNC_SECONDS:
            checked["at"] = time.monotonic()
            try:
                sync_policy(rt)
            except SQLAlchemyError as exc:
                # The database is down: keep routing on the policy in force; /readyz reports the outage.
                log.warning("could not check the policy version in force: %s", type(exc).__name__)

    @app.before_request
    def _wait_turn():
        # A burst of model calls arrives: a few at a time parse, route and store, each step in its own turn
        # of the event loop, so a /v1/route or /healthz that arrives meanwhile is not behind all of them
        # (app.tasks.turns). The intake lets go of the place once the request is stored.
        if request.endpoint in TAKES_TURNS:
            turns.hold()

    @app.teardown_request
    def _let_go(_exc):
        turns.let_go()  # an error before the intake's end

    @app.teardown_appcontext
    def _close_session(_exc):
        session = g.pop("db_session", None)
        if session is not None:
            session.close()
