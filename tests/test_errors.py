"""Every bad input is a JSON error naming the field, with the right 4xx; never a 500."""
from __future__ import annotations

import pytest


@pytest.mark.parametrize("body, field", [
    ({"task_type": "classification"}, None),        # neither text nor messages
    ({"text": 5}, "text"),
    ({"text": "hi", "risk": "extreme"}, "risk"),
    ({"text": "hi", "external": "maybe"}, "external"),
    ({"text": "hi", "mode": "magic"}, "mode"),
    ({"text": "hi", "metadata": "not an object"}, "metadata"),
    ({"messages": [{"role": "robot", "content": "x"}]}, "messages.0.role"),
    ({"messages": "hello"}, "messages"),
    ({"text": "hi", "task_type": "x" * 101}, "task_type"),
])
def test_invalid_fields_are_422_naming_the_field(client, auth, body, field):
    response = client.post("/v1/route", json=body, headers=auth)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "invalid" and error["message"]
    assert error["field"] == field


def test_malformed_json_is_400(client, auth):
    response = client.post("/v1/route", data=b"{not json", headers={**auth, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "malformed"


def test_json_array_body_is_400(client, auth):
    response = client.post("/v1/route", json=[1, 2], headers=auth)
    assert response.status_code == 400


def test_body_over_the_limit_is_413(client, auth, app):
    limit = app.config["MAX_CONTENT_LENGTH"]
    response = client.post("/v1/route", data={"text": "x" * (limit + 10)}, headers=auth)
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "too_large"


def test_unknown_path_is_json_404(client):
    response = client.get("/v1/nothing-here")
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


def test_wrong_method_is_json_405(client, auth):
    response = client.get("/v1/route", headers=auth)
    assert response.status_code == 405 and "error" in response.get_json()


def test_form_field_with_broken_json_names_the_field(client, auth):
    response = client.post("/v1/route", data={"text": "hi", "metadata": "{broken"}, headers=auth)
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == "metadata"
