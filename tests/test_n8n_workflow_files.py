"""The shipped n8n workflows as a new user imports them: every one has a Manual Trigger with sample data,
and the editor's main Execute button runs sample data at once instead of waiting for a webhook call.

n8n 2.8's editor picks the trigger its Execute button starts by type (Form > Webhook > Schedule > Manual;
``findTriggerNodeToAutoSelect`` in n8n-editor-ui), so with a Webhook beside the Manual Trigger it starts
the Webhook; the server then waits for a call unless the Webhook has pinned data, which a manual run
uses instead (production executions ignore pinned data). The node README must match the files."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / "n8n-nodes" / "workflows").glob("*.workflow.json"))
# n8n-editor-ui 2.8.4, findTriggerNodeToAutoSelect: higher wins; other non-core triggers 8, core 0.
AUTO_SELECT_PRIORITY = {"n8n-nodes-base.formTrigger": 10, "n8n-nodes-base.webhook": 9,
                        "n8n-nodes-base.scheduleTrigger": 7, "n8n-nodes-base.manualTrigger": 6,
                        "n8n-nodes-base.executeWorkflowTrigger": 5, "n8n-nodes-base.errorTrigger": 4}
TRIGGERS = set(AUTO_SELECT_PRIORITY)
# What each workflow reads from the webhook body (README's "Bodies").
BODY_FIELDS = {"list-classification": {"rows"}, "crm-cleanup": {"records"},
               "support-reply-review": {"customer_email", "customer_name", "subject", "message"},
               "support-reply-one-node": {"customer_email", "customer_name", "subject", "message"}}


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def _downstream(workflow: dict, name: str) -> list[str]:
    outputs = workflow["connections"].get(name, {}).get("main", [])
    return [link["node"] for output in outputs for link in output]


def test_there_are_four_workflows():
    assert [path.name.removesuffix(".workflow.json") for path in WORKFLOWS] == sorted(BODY_FIELDS)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_manual_trigger_feeds_sample_data(path):
    workflow = _load(path)
    manual = [node for node in workflow["nodes"] if node["type"] == "n8n-nodes-base.manualTrigger"]
    assert len(manual) == 1, "a Manual Trigger to try the workflow in the editor"
    (sample_name,) = _downstream(workflow, manual[0]["name"])
    sample = next(node for node in workflow["nodes"] if node["name"] == sample_name)
    assert sample["type"] == "n8n-nodes-base.set" and sample["parameters"]["mode"] == "raw"
    body = json.loads(sample["parameters"]["jsonOutput"])["body"]
    assert set(body) == BODY_FIELDS[path.name.removesuffix(".workflow.json")]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_the_execute_button_runs_sample_data_without_waiting(path):
    workflow = _load(path)
    triggers = [node for node in workflow["nodes"] if node["type"] in TRIGGERS and not node.get("disabled")]
    chosen = max(triggers, key=lambda node: AUTO_SELECT_PRIORITY[node["type"]])  # what the editor auto-selects
    pinned = (workflow.get("pinData") or {}).get(chosen["name"])
    assert chosen["type"] == "n8n-nodes-base.manualTrigger" or pinned, \
        f"Execute starts {chosen['name']!r}, which would wait for a call"
    if chosen["type"] == "n8n-nodes-base.webhook":
        (item,) = pinned
        assert set(item["json"]["body"]) == BODY_FIELDS[path.name.removesuffix(".workflow.json")]
        # The pinned call and the Manual Trigger's sample are the same data.
        manual = next(node for node in workflow["nodes"] if node["type"] == "n8n-nodes-base.manualTrigger")
        sample = next(node for node in workflow["nodes"] if node["name"] == _downstream(workflow, manual["name"])[0])
        assert item["json"]["body"] == json.loads(sample["parameters"]["jsonOutput"])["body"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_tiergate_nodes_name_their_credential_so_n8n_matches_it(path):
    """n8n's editor drops a credential reference whose id the instance lacks when a file is imported
    (``removeUnknownCredentials``) and then warns on every node; a reference with ``id: null`` is kept
    and matched by name, in the editor's node issues and by the server on import and save
    (``replaceInvalidCredentials``)."""
    nodes = [node for node in _load(path)["nodes"] if node["type"] == "n8n-nodes-tiergate.tiergate"]
    assert nodes
    for node in nodes:
        assert node["credentials"] == {"tiergateApi": {"id": None, "name": "Tiergate account"}}, node["name"]


def test_node_readme_describes_the_files():
    readme = (ROOT / "n8n-nodes" / "README.md").read_text()
    assert "four ready-to-import workflows" in readme and "three ready-to-import" not in readme
    for path in WORKFLOWS:
        assert path.name in readme, path.name
    assert "TIERGATE_E2E_N8N=1" in readme
