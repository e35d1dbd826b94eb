"""API keys: hashed at rest, Bearer or X-API-Key, 401 for missing/bad/revoked, 403 for the wrong scope."""
from __future__ import annotations

import hashlib

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from app.cli import cli
from app.store import ApiKey

ROUTE_BODY = {"task_type": "classification", "text": "hello"}


def test_missing_key_is_401_naming_the_header(client):
    response = client.post("/v1/route", json=ROUTE_BODY)
    assert response.status_code == 401
    assert response.get_json()["error"] == {"code": "unauthorized", "field": "Authorization",
                                            "message": response.get_json()["error"]["message"]}


def test_wrong_key_is_401(client):
    assert client.post("/v1/route", json=ROUTE_BODY, headers={"X-API-Key": "tg_nope"}).status_code == 401


def test_bearer_and_x_api_key_both_work(client, api_key):
    assert client.post("/v1/route", json=ROUTE_BODY, headers={"Authorization": f"Bearer {api_key}"}).status_code == 200
    assert client.post("/v1/route", json=ROUTE_BODY, headers={"X-API-Key": api_key}).status_code == 200


@pytest.mark.parametrize("junk", ["Basic dXNlcjpwYXNz", "tg_not_a_scheme", "Bearer", "Token abc"])
def test_a_junk_authorization_header_beside_a_valid_x_api_key_is_401_naming_it(client, api_key, junk):
    """Issue 25 item 12: a credential we cannot read is named, not silently passed over."""
    response = client.post("/v1/route", json=ROUTE_BODY, headers={"X-API-Key": api_key, "Authorization": junk})
    assert response.status_code == 401
    error = response.get_json()["error"]
    assert error["field"] == "Authorization" and "Bearer <key>" in error["message"]
    # A valid Bearer key beside it, or no Authorization at all, still works.
    assert client.post("/v1/route", json=ROUTE_BODY,
                       headers={"X-API-Key": api_key, "Authorization": f"Bearer {api_key}"}).status_code == 200


def test_wrong_scope_is_403(client, make_key):
    key = make_key(["classify"])
    response = client.post("/v1/route", json=ROUTE_BODY, headers={"X-API-Key": key})
    assert response.status_code == 403 and "route" in response.get_json()["error"]["message"]


def test_admin_scope_covers_everything(client, make_key):
    assert client.post("/v1/route", json=ROUTE_BODY, headers={"X-API-Key": make_key(["admin"])}).status_code == 200


def test_keys_are_stored_hashed(app, api_key):
    with app.extensions["store"].session() as session:
        stored = session.scalars(select(ApiKey)).all()
    assert all(api_key not in (row.key_hash, row.prefix, row.name) for row in stored)
    assert hashlib.sha256(api_key.encode()).hexdigest() in {row.key_hash for row in stored}


def test_cli_create_list_revoke(client, settings, monkeypatch):
    monkeypatch.setenv("TIERGATE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    runner = CliRunner()
    created = runner.invoke(cli, ["keys", "create", "--name", "zapier", "--scopes", "route", "--quiet"])
    assert created.exit_code == 0, created.output
    plain = created.output.strip()
    assert plain.startswith("tg_") and "\n" not in plain
    assert client.post("/v1/route", json=ROUTE_BODY, headers={"X-API-Key": plain}).status_code == 200

    listed = runner.invoke(cli, ["keys", "list"])
    assert "zapier" in listed.output and plain not in listed.output
    key_id = next(line.split()[0] for line in listed.output.splitlines() if "zapier" in line)

    revoked = runner.invoke(cli, ["keys", "revoke", key_id])
    assert revoked.exit_code == 0
    # The app cached the key after the first request; the revocation must still apply at once.
    assert client.post("/v1/route", json=ROUTE_BODY, headers={"X-API-Key": plain}).status_code == 401
    assert runner.invoke(cli, ["keys", "revoke", key_id]).exit_code != 0


def test_cli_rejects_unknown_scope(settings, monkeypatch):
    monkeypatch.setenv("TIERGATE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    result = CliRunner().invoke(cli, ["keys", "create", "--name", "x", "--scopes", "route,superuser"])
    assert result.exit_code != 0 and "superuser" in result.output
