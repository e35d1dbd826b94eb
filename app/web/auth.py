"""Reviewer accounts and the browser session: login, logout, ``login_required`` and CSRF.

The web pages authenticate people with a signed session cookie; the JSON API under /v1 authenticates
integrations with API keys and sends no cookies, so CSRF protection covers every unsafe request
*except* the API's. It is on by default: a page blueprint added later is protected without opting in.
"""
from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from functools import wraps
from urllib.parse import urlsplit

from flask import Blueprint, Flask, current_app, flash, g, has_request_context, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from app.admin.accounts import MIN_PASSWORD_CHARS, create_reviewer, normalize_email  # noqa: F401 (re-exported)
from app.store import Reviewer
from app.web.context import db, runtime

bp = Blueprint("auth", __name__)

CSRF_FIELD = "csrf_token"
SESSION_VERSION = "session_version"
CSRF_HEADER = "X-CSRF-Token"
SESSION_LIFETIME = timedelta(hours=12)
# Failed logins before /login refuses them for a while, counted twice: per client address and email, so
# that one reviewer's typos lock out no one else; and per address alone, with a higher bound, so spraying
# one password over many emails is limited too. The address is the real client's: behind a reverse proxy
# on the same machine, ``TIERGATE_TRUSTED_PROXIES`` says how many ``X-Forwarded-For`` hops to believe
# (``trust_proxies``); without it every client would share the proxy's address and one sprayer would lock
# out everyone.
MAX_FAILED_LOGINS = 10
MAX_FAILED_LOGINS_PER_ADDRESS = 50
FAILED_LOGIN_WINDOW_SECONDS = 15 * 60
FAILED_LOGIN_KEY = "tiergate:login-failures:{}"
FAILED_LOGIN_ADDRESS_KEY = "tiergate:login-failures-by-address:{}"
# Blueprints that are not browser pages: the key-authenticated JSON API and the operator probes.
CSRF_EXEMPT_BLUEPRINTS = frozenset({"api", "health"})
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Checked against when the email is unknown, so that a wrong email takes as long as a wrong password.
_DUMMY_HASH = generate_password_hash(secrets.token_urlsafe(16))


# -- accounts ------------------------------------------------------------------------------------
# Creating accounts is app.admin.accounts' job (the CLI and the admin pages share it); logging in is this module's.

def check_credentials(session: Session, email: str, password: str) -> Reviewer | None:
    """The active reviewer with this email and password, or None."""
    reviewer = session.scalar(select(Reviewer).where(func.lower(Reviewer.email) == normalize_email(email)))
    if reviewer is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(reviewer.password_hash, password) or not reviewer.active:
        return None
    return reviewer


def current_reviewer() -> Reviewer | None:
    """The logged-in, still active reviewer of this request (cached on ``g``); None for a session
    cookie issued before the reviewer last logged out."""
    if "reviewer" not in g:
        reviewer_id = session.get("reviewer_id")
        reviewer = db().get(Reviewer, reviewer_id) if isinstance(reviewer_id, int) else None
        current = (reviewer is not None and reviewer.active
                   and session.get(SESSION_VERSION) == reviewer.session_version)
        g.reviewer = reviewer if current else None
    return g.reviewer


def login_required(view):
    """Page decorator: redirect to /login (coming back afterwards) unless a reviewer is logged in."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        if current_reviewer() is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)
    return wrapper


def admin_required(view):
    """Page decorator: like ``login_required``, then 403 unless the reviewer is an admin."""
    @wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if not current_reviewer().is_admin:
            return render_template("error.html", title="Admins only",
                                   message="Only an admin can do this. An operator can make you one with "
                                           "'tiergate reviewers promote --email <your email>'."), 403
        return view(*args, **kwargs)
    return wrapper


# -- CSRF ----------------------------------------------------------------------------------------

def csrf_token() -> str:
    """The session's CSRF token, created on first use; templates put it in every form."""
    token = session.get(CSRF_FIELD)
    if not token:
        token = session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return token


def _check_csrf():
    if request.method not in UNSAFE_METHODS or request.url_rule is None or CSRF_EXEMPT_BLUEPRINTS.intersection(request.blueprints):
        return None
    expected = session.get(CSRF_FIELD)
    sent = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    if not expected or not hmac.compare_digest(str(expected), sent):
        return render_template("error.html", title="Form expired",
                               message="This form was refused because its security token is missing or out of date "
                                       "(CSRF protection). Reload the page and try again."), 400
    return None


# -- views ---------------------------------------------------------------------------------------

def _safe_next(target: str | None) -> str:
    """Only same-site relative paths, so the login form cannot be used as an open redirect."""
    if not target:
        return url_for("review.queue")
    parts = urlsplit(target)
    # Browsers read a backslash as a slash (/\host is //host, another site): refuse it, and control characters.
    if (parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target
            or any(ord(char) < 32 for char in target)):
        return url_for("review.queue")
    return target


@bp.get("/")
def home():
    return redirect(url_for("review.queue"))


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        if current_reviewer() is not None:
            return redirect(_safe_next(request.args.get("next")))
        return render_template("login.html", next=request.args.get("next", ""))
    email = request.form.get("email", "")
    limits = {FAILED_LOGIN_KEY.format(f"{request.remote_addr}:{normalize_email(email)}"): MAX_FAILED_LOGINS,
              FAILED_LOGIN_ADDRESS_KEY.format(request.remote_addr): MAX_FAILED_LOGINS_PER_ADDRESS}
    redis = runtime().redis
    counts = redis.mget(list(limits))
    if any(int(count or 0) >= limit for count, limit in zip(counts, limits.values())):
        return render_template("login.html", next=request.form.get("next", ""), email=email,
                               error="Too many failed logins from here; wait a few minutes and try again."), 429
    reviewer = check_credentials(db(), email, request.form.get("password", ""))
    if reviewer is None:
        with redis.pipeline() as pipe:
            for key in limits:
                pipe.incr(key).expire(key, FAILED_LOGIN_WINDOW_SECONDS)
            pipe.execute()
        return render_template("login.html", next=request.form.get("next", ""), email=email,
                               error="Wrong email or password."), 401
    # A fresh session on login: nothing from before (a planted session id or token) carries over.
    session.clear()
    session.permanent = True
    session["reviewer_id"] = reviewer.id
    session[SESSION_VERSION] = reviewer.session_version
    csrf_token()
    return redirect(_safe_next(request.form.get("next")))


@bp.post("/logout")
def logout():
    reviewer = current_reviewer()
    if reviewer is not None:  # every cookie issued before now stops working, not just this browser's copy
        reviewer.session_version += 1
        db().commit()
    session.clear()
    flash("You are logged out.")
    return redirect(url_for("auth.login"))


class CookieFirstSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, except that a request without the cookie (every API call: keys,
    no cookies) gets its empty session without Flask building the signing serializer first, a key
    derivation per request that was about 1% of a chat request's CPU."""

    def open_session(self, app: Flask, request):
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


def init_app(app: Flask) -> None:
    """Session cookie settings, the CSRF check on every page form, and the template helpers."""
    app.session_interface = CookieFirstSessions()
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME)
    public_url = app.config["TIERGATE"].public_url
    if public_url and public_url.startswith("https://"):
        app.config["SESSION_COOKIE_SECURE"] = True
    app.before_request(_check_csrf)
    app.register_blueprint(bp)
    trust_proxies(app, app.config["TIERGATE"].trusted_proxies)

    @app.context_processor
    def _page_helpers():
        return {"csrf_token": csrf_token, "current_reviewer": current_reviewer, "nav_links": _nav_links(app)}


def trust_proxies(app: Flask, hops: int) -> None:
    """Believe ``hops`` reverse proxies' ``X-Forwarded-For``/``-Proto``/``-Host`` (Werkzeug's ``ProxyFix``),
    so ``remote_addr`` is the real client; with 0 (the default) the headers are ignored, since anyone
    reaching Tiergate directly could forge them."""
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)


def _nav_links(app: Flask) -> list[tuple[str, str]]:
    """Links of the page areas this app has (the reports pages register themselves separately)."""
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    links = [("Review queue", "/review"), ("Quality audit", "/review/audit")]
    if "/reports" in rules:
        links.append(("Reports", "/reports"))
    reviewer = current_reviewer() if has_request_context() else None
    if reviewer is not None and reviewer.is_admin:
        links.append(("Admin", "/admin"))
    return [(label, path) for label, path in links if path in rules]

