"""Issue 25 item 8: login limits count the real client behind a trusted proxy, and logout ends the session.

Tiergate runs on a real socket and a browser-like ``requests`` session logs in. A reverse proxy on the
same machine (cloudflared, Caddy) connects from 127.0.0.1 for everyone and names the client in
``X-Forwarded-For``; with ``TIERGATE_TRUSTED_PROXIES=1`` a sprayer's made-up e-mails lock out the
sprayer's address only, not a reviewer who never failed. Without the setting the header is not
believed, so a forged one does not get around the limit. A cookie copied before logout logs no one in.
"""
from __future__ import annotations

import re
import threading

import pytest
import requests
from werkzeug.serving import make_server

from app import create_app
from app.config import load_settings
from app.web.auth import MAX_FAILED_LOGINS_PER_ADDRESS
from tests.conftest import TEST_QUEUE
from tests.review_seed import REVIEWER_EMAIL, REVIEWER_PASSWORD, add_reviewer

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
SPRAYER, REVIEWER_ADDRESS = "203.0.113.7", "198.51.100.20"


@pytest.fixture
def site(request, tmp_path, redis_url, database_url, redis_conn):
    """Tiergate on a real socket with the test's ``TIERGATE_TRUSTED_PROXIES`` (indirect param) and a reviewer."""
    settings = load_settings(TIERGATE_DATA_DIR=tmp_path / "data", REDIS_URL=redis_url, DATABASE_URL=database_url,
                             TIERGATE_QUEUE=TEST_QUEUE, TIERGATE_TRUSTED_PROXIES=getattr(request, "param", 0))
    app = create_app(settings, migrate=False)
    add_reviewer(app.extensions["store"], admin=True)
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_port}"
    http.shutdown()
    thread.join(timeout=5)
    app.extensions["store"].dispose()


def login(site: str, browser: requests.Session, email: str, password: str, client: str | None = None):
    """A login through a proxy that names ``client`` in X-Forwarded-For (none: a direct visit)."""
    headers = {"X-Forwarded-For": client} if client else {}
    token = TOKEN.search(browser.get(site + "/login", headers=headers, timeout=10).text).group(1)
    return browser.post(site + "/login", data={"email": email, "password": password, "csrf_token": token},
                        headers=headers, allow_redirects=False, timeout=10)


@pytest.mark.parametrize("site", [1], indirect=True)
def test_a_sprayer_behind_the_proxy_does_not_lock_out_a_reviewer_who_never_failed(site):
    sprayer = requests.Session()
    statuses = [login(site, sprayer, f"made-up-{n}@example.com", "Summer2026!", SPRAYER).status_code
                for n in range(55)]

    assert statuses[:MAX_FAILED_LOGINS_PER_ADDRESS] == [401] * MAX_FAILED_LOGINS_PER_ADDRESS
    assert set(statuses[MAX_FAILED_LOGINS_PER_ADDRESS:]) == {429}  # the sprayer's own address is limited
    reviewer = login(site, requests.Session(), REVIEWER_EMAIL, REVIEWER_PASSWORD, REVIEWER_ADDRESS)
    assert reviewer.status_code == 302 and reviewer.headers["Location"].endswith("/review")


def test_without_trusted_proxies_a_forged_forwarded_for_does_not_escape_the_limit(site):
    sprayer = requests.Session()
    statuses = [login(site, sprayer, f"made-up-{n}@example.com", "Summer2026!", f"192.0.2.{n}").status_code
                for n in range(MAX_FAILED_LOGINS_PER_ADDRESS + 2)]

    assert statuses[-2:] == [429, 429]  # every try came from 127.0.0.1, whatever the header said


def test_a_session_cookie_copied_before_logout_no_longer_logs_in(site):
    browser = requests.Session()
    assert login(site, browser, REVIEWER_EMAIL, REVIEWER_PASSWORD).status_code == 302
    copied = browser.cookies.get_dict()
    page = browser.get(site + "/review", timeout=10)
    assert page.status_code == 200
    token = TOKEN.search(page.text).group(1)
    assert browser.post(site + "/logout", data={"csrf_token": token}, allow_redirects=False,
                        timeout=10).status_code == 302

    replayed = requests.get(site + "/review", cookies=copied, allow_redirects=False, timeout=10)
    assert replayed.status_code == 302 and "/login" in replayed.headers["Location"]
    again = requests.Session()  # logging in again works, with a fresh cookie
    assert login(site, again, REVIEWER_EMAIL, REVIEWER_PASSWORD).status_code == 302
    assert again.get(site + "/review", allow_redirects=False, timeout=10).status_code == 200
    assert requests.get(site + "/review", cookies=copied, allow_redirects=False, timeout=10).status_code == 302
