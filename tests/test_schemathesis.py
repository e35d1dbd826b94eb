"""Property-based fuzzing of the API from its own OpenAPI document: no input gives a server error.

schemathesis generates valid and invalid requests for every documented operation and sends them to
the WSGI app with an admin key. Bounded and derandomized so CI is repeatable: a fixed number of
examples per operation (about a minute in all), the same examples on every run.
"""
from __future__ import annotations

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings as hypothesis_settings, strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from app.web.openapi import openapi_document

EXAMPLES_PER_OPERATION = 40
# A sync /v1/fallback waits for a worker this long before answering 202 (no worker runs here).
SYNC_WAIT_SECONDS = 0.2
PATH_PARAMETER = re.compile(r"\{(\w+)\}")


@pytest.fixture
def settings(settings):
    settings.sync_wait_seconds = SYNC_WAIT_SECONDS
    return settings


def documented_operations() -> list[str]:
    return [f"{method.upper()} {path}" for path, operations in openapi_document()["paths"].items()
            for method in operations]


# One test per operation, driven through hypothesis directly: schemathesis' pytest fixture loader
# (``schemathesis.pytest.from_fixture``) does not run under pytest 9.
@pytest.mark.parametrize("operation", documented_operations())
def test_no_input_gives_a_server_error(app, auth, operation):
    method, path = operation.split(" ", 1)
    api_operation = schemathesis.openapi.from_wsgi("/openapi.json", app)[path][method]
    valid_and_invalid = st.one_of(api_operation.as_strategy(GenerationMode.POSITIVE),
                                  api_operation.as_strategy(GenerationMode.NEGATIVE))

    @hypothesis_settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, deadline=None, database=None,
                         phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=valid_and_invalid)
    def fuzz(case):
        case.call_and_validate(headers=auth, checks=[not_a_server_error])

    fuzz()


def test_every_path_parameter_is_declared(app):
    """schemathesis (and every client generator) needs each ``{name}`` in a path declared as a parameter."""
    undeclared = []
    for path, operations in openapi_document()["paths"].items():
        for method, operation in operations.items():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            undeclared += [f"{method.upper()} {path}: {name}" for name in PATH_PARAMETER.findall(path)
                           if name not in declared]
    assert undeclared == []
