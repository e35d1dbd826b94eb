"""The browser pages: reviewer login and the review queue (server-rendered, every asset served locally)."""
from __future__ import annotations

from flask import Flask

from app.web.auth import login_required

__all__ = ["init_app", "login_required"]


def init_app(app: Flask) -> None:
    """Register login, CSRF, the review and admin pages, and the templates' shadow section."""
    from app.web import admin, audit, auth, review

    auth.init_app(app)
    app.register_blueprint(review.bp)
    app.register_blueprint(audit.bp)
    app.register_blueprint(admin.bp)
    _shadow_section(app)


def _shadow_section(app: Flask) -> None:
    """Give templates ``shadow_section(period)`` and the recommendation texts: the reports page's partial
    reads them, so the page's view needs no change."""
    def shadow_section(period):
        from app.shadow.report import shadow_report
        from app.web.context import current_policy, db

        return shadow_report(db(), current_policy(), period)

    def shadow_texts():
        from app.shadow.report import RECOMMENDATION_TEXT

        return RECOMMENDATION_TEXT

    app.jinja_env.globals.update(shadow_section=shadow_section, shadow_texts=shadow_texts)
