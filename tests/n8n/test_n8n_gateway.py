"""n8n's own AI nodes on Tiergate's drop-in endpoint: the OpenAI Chat Model sub-node with its credential's
Base URL at Tiergate and model ``tiergate/auto``, under a Basic LLM Chain and under an AI Agent that calls
the Calculator tool. Real n8n (``n8n execute``), real ``tiergate up``, the fake Messages API behind it.
Runs with ``TIERGATE_E2E_N8N=1``.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.n8n import harness

pytestmark = pytest.mark.skipif(os.environ.get("TIERGATE_E2E_N8N") != "1",
                                reason="set TIERGATE_E2E_N8N=1 to run n8n end to end")

WORKFLOWS = Path(__file__).parent / "workflows"
CREDENTIAL = {"id": "tgGatewayOpenAi", "name": "Tiergate gateway (OpenAI API)", "type": "openAiApi"}


@pytest.fixture(scope="module")
def run_dir():
    """Artifacts of this module's run, apart from the node package's run (``test_n8n_e2e.py``)."""
    path = harness.REPO_ROOT / "test-artifacts" / "n8n-e2e-gateway"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


@pytest.fixture(scope="module")
def gateway_n8n(run_dir, n8n_binary, tiergate):
    """n8n with an OpenAI credential whose Base URL is Tiergate's /v1, and the two gateway workflows."""
    instance = harness.N8n(n8n_binary, run_dir / "n8n-gateway-home")
    instance.import_credentials([{**CREDENTIAL, "data": {"apiKey": tiergate.api_key, "url": tiergate.url + "/v1"}}])
    for name in ("gateway-llm-chain", "gateway-agent"):
        instance.cli("import:workflow", f"--input={WORKFLOWS / f'{name}.workflow.json'}")
    return instance


def _gateway_rows(tiergate) -> list[tuple]:
    database = tiergate.data_dir / "tiergate.db"
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)) as db:
        return db.execute("SELECT id, status, tier, model, cost_usd, baseline_cost_usd FROM requests "
                          "WHERE kind = 'gateway' ORDER BY created_at").fetchall()


def _run(gateway_n8n, stem: str) -> dict:
    workflow = json.loads((WORKFLOWS / f"{stem}.workflow.json").read_text())
    execution = gateway_n8n.execute(workflow["id"])
    assert execution["resultData"].get("error") is None, execution["resultData"]["error"]
    return execution


def test_basic_llm_chain_runs_on_tiergate_auto(gateway_n8n, tiergate, fake_model):
    before = len(_gateway_rows(tiergate))

    execution = _run(gateway_n8n, "gateway-llm-chain")

    (item,) = harness.node_output(execution, "Basic LLM Chain")
    # tiergate/auto routes as /v1/route does (learned); a prompt it reads as a support reply (e.g. "welcoming
    # Ada to the team") would be held for review by the default policy and answered with the held notice.
    assert item["text"] == "Fake answer: Write one friendly sentence about the sea."
    rows = _gateway_rows(tiergate)[before:]
    assert len(rows) == 1 and rows[0][1] == "done" and rows[0][2] in {"tier1", "tier2", "tier3"}
    assert float(rows[0][4]) > 0 and float(rows[0][5]) > 0


def test_ai_agent_calls_the_calculator_through_tiergate(gateway_n8n, tiergate, fake_model):
    before = len(_gateway_rows(tiergate))
    requests_before = len(fake_model.requests)

    execution = _run(gateway_n8n, "gateway-agent")

    (item,) = harness.node_output(execution, "AI Agent")
    # n8n hands the tool's output back as [{"response": "..."}]; the fake model quotes what it got.
    assert item["output"].startswith("The result is ") and str(1234 * 5678) in item["output"]
    rows = _gateway_rows(tiergate)[before:]
    assert [row[1] for row in rows] == ["done", "done"]  # the tool call, then the answer
    assert {row[2] for row in rows} == {"tier2"}  # a call that offers tools starts on tier2
    calls = fake_model.requests[requests_before:]
    assert calls[0].body["tools"][0]["name"].lower() == "calculator"
    results = [block for message in calls[1].messages for block in message["content"]
               if isinstance(block, dict) and block.get("type") == "tool_result"]
    assert results and str(1234 * 5678) in json.dumps(results[0]["content"])


@pytest.fixture(scope="module")
def running_gateway_n8n(gateway_n8n):
    """The same n8n serving its editor API, for what a person does there (the credential's Test button)."""
    gateway_n8n.start(expect_active=[])
    try:
        yield gateway_n8n
    finally:
        gateway_n8n.stop()


def test_openai_credential_test_accepts_tiergate_and_refuses_a_wrong_key(running_gateway_n8n, tiergate):
    good = running_gateway_n8n.test_credential({**CREDENTIAL, "data": {"apiKey": tiergate.api_key,
                                                                       "url": tiergate.url + "/v1"}})
    wrong = running_gateway_n8n.test_credential({**CREDENTIAL, "data": {"apiKey": "tg_wrong",
                                                                        "url": tiergate.url + "/v1"}})

    assert good["status"] == "OK", good
    assert wrong["status"] == "Error", wrong
