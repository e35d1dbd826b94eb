"""Issue 25 item 12: the drop-in endpoints in /openapi.json have a request schema and their own error shapes.

They were listed with no request body and with the native API's error schema (``{"error": {"code", ...}}``),
which no OpenAI or Anthropic error matches, and without the 503/507 (and 402) every call may meet. Here
each documented error schema is checked against what the endpoint really answers.
"""
from __future__ import annotations

import jsonschema
import pytest

from tests.support.gateway_app import app, fake_openai, gateway_key, gateway_policy  # noqa: F401

OPENAI_BODY = {"model": "tiergate/auto", "messages": [{"role": "user", "content": "hi"}]}
CALLS = {  # path -> (a valid body, a body that is not)
    "/v1/chat/completions": (OPENAI_BODY, {"model": "tiergate/auto", "messages": "hi"}),
    "/v1/messages": ({**OPENAI_BODY, "max_tokens": 64}, {"model": "tiergate/auto", "messages": []}),
    "/v1/responses": ({"model": "tiergate/auto", "input": "hi"}, {"model": "tiergate/auto", "input": 7}),
    "/v1/messages/count_tokens": (OPENAI_BODY, {"model": "tiergate/auto", "messages": 7}),
}
NATIVE_ERROR = {"error": {"code": "invalid_field", "message": "messages: not a list", "field": "messages"}}
PAID = ["/v1/chat/completions", "/v1/messages", "/v1/responses"]


@pytest.fixture
def document(app):  # noqa: F811
    return app.test_client().get("/openapi.json").get_json()


def _schema(document, schema):
    """``schema`` with the document's components beside it, so its ``#/components/...`` refs resolve."""
    return {**schema, "components": document["components"]}


@pytest.mark.parametrize("path", list(CALLS))
def test_each_drop_in_endpoint_documents_the_body_it_reads(document, path):
    body = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    valid, invalid = CALLS[path]
    jsonschema.validate(valid, _schema(document, body))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(invalid, _schema(document, body))


@pytest.mark.parametrize("path", list(CALLS))
def test_each_documented_error_schema_matches_what_the_endpoint_answers(app, document, gateway_key, path):  # noqa: F811
    client = app.test_client()
    responses = document["paths"][path]["post"]["responses"]
    _valid, invalid = CALLS[path]
    answers = [client.post(path, json=invalid, headers={"Authorization": f"Bearer {gateway_key}"}),
               client.post(path, json=invalid),  # no key
               client.post(path, json={**CALLS[path][0], "model": "no-such-model"},
                           headers={"Authorization": f"Bearer {gateway_key}"})]
    assert [answer.status_code for answer in answers] == [400, 401, 404]
    for answer in answers:
        schema = _schema(document, responses[str(answer.status_code)]["content"]["application/json"]["schema"])
        jsonschema.validate(answer.get_json(), schema)
        # The schema says which shape it is: the native API's error body is not one of the drop-in's.
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(NATIVE_ERROR, schema)


@pytest.mark.parametrize("path", PAID)
def test_paid_drop_in_calls_list_the_refusals_every_call_may_meet(document, path):
    responses = document["paths"][path]["post"]["responses"]
    assert {"402", "503", "507"} <= set(responses)
