"""n8n's OpenAI Chat Model with its default settings on Tiergate: since node version 1.3, *Use Responses API*
is on by default, so an AI Agent built the obvious way talks to ``POST /v1/responses`` (issue 22, item 1).

Real n8n (``n8n execute``), real ``tiergate up``, the fake Messages API behind it. The workflow is
``gateway-agent`` with every Chat Model setting left at n8n's default. Runs with ``TIERGATE_E2E_N8N=1``.
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

WORKFLOW = Path(__file__).parent / "workflows" / "gateway-agent-responses.workflow.json"
CREDENTIAL = {"id": "tgGatewayOpenAi", "name": "Tiergate gateway (OpenAI API)", "type": "openAiApi"}


@pytest.fixture(scope="module")
def run_dir():
    path = harness.REPO_ROOT / "test-artifacts" / "n8n-e2e-responses"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


@pytest.fixture(scope="module")
def responses_n8n(run_dir, n8n_binary, tiergate):
    instance = harness.N8n(n8n_binary, run_dir / "n8n-home")
    instance.import_credentials([{**CREDENTIAL, "data": {"apiKey": tiergate.api_key, "url": tiergate.url + "/v1"}}])
    instance.cli("import:workflow", f"--input={WORKFLOW}")
    return instance


def _gateway_calls(tiergate) -> list[tuple]:
    database = tiergate.data_dir / "tiergate.db"
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)) as db:
        return db.execute("SELECT id, status, tier FROM requests WHERE kind = 'gateway' ORDER BY created_at").fetchall()


def test_ai_agent_on_the_responses_api_calls_the_calculator_through_tiergate(responses_n8n, tiergate, fake_model):
    workflow = json.loads(WORKFLOW.read_text())
    (model,) = [node for node in workflow["nodes"] if node["type"].endswith("lmChatOpenAi")]
    assert model["typeVersion"] >= 1.3 and "responsesApiEnabled" not in model["parameters"]  # n8n's default: on
    before = len(_gateway_calls(tiergate))
    requests_before = len(fake_model.requests)

    execution = responses_n8n.execute(workflow["id"])

    assert execution["resultData"].get("error") is None, execution["resultData"]["error"]
    (item,) = harness.node_output(execution, "AI Agent")
    assert item["output"].startswith("The result is ") and str(1234 * 5678) in item["output"]
    calls = _gateway_calls(tiergate)[before:]
    assert [call[1] for call in calls] == ["done", "done"]  # the tool call, then the answer
    log = (tiergate.data_dir / "tiergate.log").read_text()
    assert log.count('"POST /v1/responses') >= 2 and '"POST /v1/chat/completions' not in log
    sent = fake_model.requests[requests_before:]
    assert sent[0].body["tools"][0]["name"].lower() == "calculator"
    results = [block for message in sent[1].messages for block in message["content"]
               if isinstance(block, dict) and block.get("type") == "tool_result"]
    assert results and str(1234 * 5678) in json.dumps(results[0]["content"])
