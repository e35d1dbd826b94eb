"""Fixtures for the n8n end-to-end run: the fake model, Tiergate, and a real n8n wired to both.

Everything is module-scoped: n8n takes seconds to boot, so the tests share one instance and each
test starts its own executions. ``TIERGATE_E2E_N8N=1`` turns the run on (``.ci/run`` sets it);
``TIERGATE_E2E_BASE_URL`` + ``TIERGATE_E2E_API_KEY`` point it at an already running Tiergate instead
of starting one.
"""
from __future__ import annotations

import os
import shutil

import pytest

from tests.n8n import harness

# Logs, databases and the n8n user folder of the latest run stay here for a post-mortem
# (pytest's own temp dirs rotate away under parallel runs). Ignored by git.
RUN_DIR = harness.REPO_ROOT / "test-artifacts" / "n8n-e2e"

CREDENTIAL_TYPE = "tiergateApi"
# The shipped workflows name their credential only ("Tiergate account", id null: n8n resolves it by name on
# import and in the editor); the test-only workflows refer to this id, so the credential is imported under it.
CREDENTIAL_ID = "tiergateApiCred1"


def _require_npm() -> None:
    if not shutil.which("npm") or not shutil.which("node"):
        pytest.fail("the n8n end-to-end run needs node and npm on PATH")


@pytest.fixture(scope="module")
def run_dir():
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    RUN_DIR.mkdir(parents=True)
    return RUN_DIR


@pytest.fixture(scope="module")
def workflows():
    return harness.load_workflows()


@pytest.fixture(scope="module")
def fake_model():
    from tests.support.fake_anthropic import FakeAnthropic

    with FakeAnthropic() as fake:
        yield fake


@pytest.fixture(scope="module")
def tiergate(run_dir, fake_model):
    external = os.environ.get("TIERGATE_E2E_BASE_URL")
    instance = harness.Tiergate(run_dir / "tiergate", {
        "ANTHROPIC_API_KEY": "fake-key",
        "ANTHROPIC_BASE_URL": fake_model.url,
        "TIERGATE_CALLBACK_ALLOW_HOSTS": "127.0.0.1,localhost",
    })
    if external:
        instance.url = external.rstrip("/")
        instance.api_key = os.environ["TIERGATE_E2E_API_KEY"]
        yield instance
        return
    instance.create_key()
    try:
        instance.start()
        yield instance
    finally:
        instance.stop()


@pytest.fixture(scope="module")
def n8n_binary():
    _require_npm()
    return harness.install_n8n()


@pytest.fixture(scope="module")
def node_tarball(run_dir):
    _require_npm()
    out = run_dir / "pack"
    return harness.pack_node_package(out, out / "pack.log")


@pytest.fixture(scope="module")
def credential_ids(workflows):
    """The Tiergate credential(s) the workflow files refer to: ``{id: name}``."""
    return {node["credentials"][CREDENTIAL_TYPE]["id"] or CREDENTIAL_ID: node["credentials"][CREDENTIAL_TYPE]["name"]
            for workflow in workflows.values() for node in workflow["nodes"]
            if CREDENTIAL_TYPE in node.get("credentials", {})}


@pytest.fixture(scope="module")
def n8n(run_dir, n8n_binary, node_tarball, tiergate, workflows, credential_ids):
    """n8n with the packed node installed, the credential and the shipped workflows imported and published."""
    instance = harness.N8n(n8n_binary, run_dir / "n8n-home")
    instance.install_node_package(node_tarball)
    instance.import_credentials([
        {"id": cred_id, "name": name, "type": CREDENTIAL_TYPE,
         "data": {"baseUrl": tiergate.url, "apiKey": tiergate.api_key}}
        for cred_id, name in credential_ids.items()])
    instance.import_workflows()
    for workflow in workflows.values():
        instance.publish(workflow["id"])
    try:
        instance.start(expect_active=[workflow["name"] for workflow in workflows.values()])
        yield instance
    finally:
        instance.stop()
