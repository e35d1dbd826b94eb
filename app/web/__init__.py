"""The browser pages: reviewer login and the review queue (server-rendered, every asset served locally)."""
from __future__ import annotations

from flask import Flask

from app.web.auth import login_required

__all__ = ["init_app", "login_required"]


def init_app(app: Flask) -> None:
    """Register login, CSRF and the review pages; put the stored policy version (if any) in force."""
    from app import sampling
    from app.web import admin, audit, auth, review

    auth.init_app(app)
    app.register_blueprint(review.bp)
    app.register_blueprint(audit.bp)
    app.register_blueprint(admin.bp)
    sampling.init_app(app)
