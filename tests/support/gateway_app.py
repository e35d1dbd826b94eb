"""Fixtures for the drop-in gateway tests: Tiergate served over real HTTP for the official SDKs.

The SDKs need a socket, so the app runs in werkzeug's threaded WSGI server on a free port; the model
side is the fake Messages API (``fake_anthropic``) and a fake OpenAI-compatible API (``fake_openai``).
``gateway_policy`` puts tier1 on the OpenAI-compatible fake when a test asks for it (indirect param).
"""
from __future__ import annotations

import threading
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select
from werkzeug.serving import make_server

from app import create_app
from app.config import load_settings
from app.store import Request
from tests.conftest import TEST_QUEUE
from tests.support.fake_openai import FakeOpenAI

DEFAULT_POLICY = Path(__file__).resolve().parents[2] / "app" / "policy" / "default.yaml"
OPENAI_TIER1_MODEL = "gpt-5-mini"
BASE_SETTINGS = {"ANTHROPIC_API_KEY": "test-key", "TIERGATE_PROVIDER_MAX_RETRIES": 0,
                 "TIERGATE_PROVIDER_TIMEOUT_SECONDS": 5, "TIERGATE_PUBLIC_URL": "http://tiergate.test"}


@pytest.fixture
def fake_openai():
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def gateway_policy(tmp_path, fake_openai, request):
    """The default policy, changed by the test's ``+``-joined variants: ``openai_tier1`` (tier1 runs on the
    OpenAI-compatible fake), ``failover`` (tier1 fails over to it), ``live`` (live streaming), ``fail`` (provider errors fail at once),
    ``tools_tier1`` (a call that offers tools may run on tier1)."""
    policy = yaml.safe_load(DEFAULT_POLICY.read_text())
    variants = set((getattr(request, "param", None) or "").split("+"))
    if variants & {"openai_tier1", "failover"}:
        policy["providers"] = {"compat": {"kind": "openai", "base_url": fake_openai.url + "/v1"}}
        policy["prices"]["models"][OPENAI_TIER1_MODEL] = {"input": 0.25, "output": 2}
    if "openai_tier1" in variants:
        policy["tiers"]["tier1"] = {"model": OPENAI_TIER1_MODEL, "provider": "compat", "max_output_tokens": 1024}
    if "failover" in variants:
        policy["tiers"]["tier1"]["failover"] = {"provider": "compat", "model": OPENAI_TIER1_MODEL}
    if "live" in variants:
        policy["gateway"]["stream"] = "live"
    if "tools_tier1" in variants:
        policy["gateway"]["tools_min_tier"] = "tier1"
    if "fail" in variants:  # a provider failure fails the request at once (the default waits it out)
        for tier in policy["tiers"].values():
            tier["on_provider_error"] = "fail"
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy, sort_keys=False))
    return path


@pytest.fixture
def app(tmp_path, redis_url, database_url, redis_conn, fake_anthropic, gateway_policy, request):
    """The app on the fakes; a test may change settings with an indirect param (a dict of variables)."""
    settings = load_settings(**{**BASE_SETTINGS, **(getattr(request, "param", None) or {})},
                             TIERGATE_DATA_DIR=tmp_path / "data", REDIS_URL=redis_url, DATABASE_URL=database_url,
                             TIERGATE_QUEUE=TEST_QUEUE, ANTHROPIC_BASE_URL=fake_anthropic.url,
                             TIERGATE_POLICY=str(gateway_policy))
    application = create_app(settings, migrate=False)
    application.config["TESTING"] = True
    yield application
    application.extensions["store"].dispose()


@pytest.fixture
def server(app):
    """Tiergate on a real socket: ``server`` is its base URL."""
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, name="tiergate-test-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_port}"
    http.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def gateway_key(make_key) -> str:
    return make_key(["gateway"], name="sdk")


@pytest.fixture
def openai_client(server, gateway_key):
    from openai import OpenAI

    with OpenAI(base_url=server + "/v1", api_key=gateway_key, max_retries=0, timeout=20) as client:
        yield client


@pytest.fixture
def anthropic_client(server, gateway_key):
    from anthropic import Anthropic

    with Anthropic(base_url=server, api_key=gateway_key, max_retries=0, timeout=20) as client:
        yield client


def ledger(app, request_id: str) -> Request:
    """The ledger row of a gateway call, with its attempts loaded."""
    with app.extensions["store"].session() as session:
        row = session.scalar(select(Request).where(Request.id == request_id))
        list(row.attempts)
        session.expunge_all()
        return row
