"""Parser trouble in a request body is a 400 JSON error naming the problem, on every endpoint; never a 500."""
from __future__ import annotations

import pytest

from app.api.body import MAX_JSON_DEPTH

BODY_ENDPOINTS = ["/v1/route", "/v1/fallback", "/v1/classify", "/v1/reviews/rev_missing/decision"]
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def nested(depth: int) -> bytes:
    """A 'metadata' value nested ``depth`` levels deep, alternating arrays and objects."""
    opened = b"".join(b"[" if level % 2 else b'{"k":' for level in range(depth))
    closed = b"".join(b"]" if level % 2 else b"}" for level in reversed(range(depth)))
    return opened + b"1" + closed


def deep_body(depth: int) -> bytes:
    return b'{"text":"hi","items":["a"],"labels":["x","y"],"action":"approve","metadata":' + nested(depth) + b"}"


@pytest.mark.parametrize("path", BODY_ENDPOINTS)
@pytest.mark.parametrize("body, content_type", [
    (deep_body(300), JSON),                   # fit in ~1 KB; broke pydantic's serializer on /v1/fallback
    (deep_body(990), JSON),                   # broke json.loads itself (RecursionError)
    (b"[" * 5000 + b"]" * 5000, "text/plain"),  # a JSON-looking plain-text body
    (b"text=hi&items=a&labels=x,y&action=approve&metadata=" + nested(400).replace(b'"', b"%22"), FORM),
])
def test_deeply_nested_json_is_400_naming_the_problem(client, auth, path, body, content_type):
    response = client.post(path, data=body, headers={**auth, "Content-Type": content_type})
    assert response.status_code == 400, response.get_data()[:300]
    error = response.get_json()["error"]
    assert error["code"] == "malformed"
    assert "nested" in error["message"] and str(MAX_JSON_DEPTH) in error["message"]


@pytest.mark.parametrize("path", BODY_ENDPOINTS)
def test_the_field_that_is_too_deep_is_named(client, auth, path):
    response = client.post(path, data=deep_body(MAX_JSON_DEPTH + 1), headers={**auth, "Content-Type": JSON})
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == "metadata"


def test_nesting_up_to_the_limit_is_accepted(client, auth):
    response = client.post("/v1/route", data=deep_body(MAX_JSON_DEPTH - 1), headers={**auth, "Content-Type": JSON})
    assert response.status_code == 200, response.get_data()[:300]


@pytest.mark.parametrize("path", ["/v1/route", "/v1/fallback", "/v1/classify"])
@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity", b"1e999"])
def test_numbers_json_cannot_carry_are_400(client, auth, path, number):
    """NaN and infinities are not JSON: PostgreSQL refuses them, and echoing them back breaks callers' parsers."""
    body = b'{"text":"hi","items":["a"],"labels":["x","y"],"metadata":{"score":' + number + b"}}"
    response = client.post(path, data=body, headers={**auth, "Content-Type": JSON})
    assert response.status_code == 400, response.get_data()[:300]
    error = response.get_json()["error"]
    assert error["code"] == "malformed" and "number" in error["message"]


@pytest.mark.parametrize("value", ["6.2e16", "nan", "inf", "-1"])
@pytest.mark.parametrize("name", ["older_than_minutes", "newer_than_minutes"])
def test_review_age_filters_out_of_range_are_422(client, auth, name, value):
    """Found by schemathesis: a huge age overflowed the date arithmetic (500)."""
    response = client.get(f"/v1/reviews?{name}={value}", headers=auth)
    assert response.status_code == 422, response.get_data()[:300]
    assert response.get_json()["error"]["field"] == name
