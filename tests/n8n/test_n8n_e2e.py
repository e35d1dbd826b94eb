"""The n8n node and the three exported workflows, in a real n8n installed from npm, against Tiergate.

Issue 7's proof: the packed node installs into a fresh n8n as ``n8n-nodes-tiergate.tiergate``; the
workflows import unchanged and run; the review workflow waits on its Wait node until a decision made
through Tiergate's review API resumes it with the edited text. Slow (n8n boots, a cold install takes
minutes), so it runs only with ``TIERGATE_E2E_N8N=1``.
"""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from tests.n8n import harness

pytestmark = pytest.mark.skipif(os.environ.get("TIERGATE_E2E_N8N") != "1",
                                reason="set TIERGATE_E2E_N8N=1 to run n8n end to end")

WEBHOOK_TIMEOUT_SECONDS = 300
EXECUTION_TIMEOUT_SECONDS = 120
CLASSIFY_ROWS = 300
LABELS = {"B2B", "B2C", "Unsure", "unknown"}
CRM_FIELDS = {"company", "first_name", "last_name", "email", "phone", "country"}


def _json_items(response, n8n, workflow) -> list[dict]:
    """The items a workflow answered with; on failure, say what its execution did."""
    try:
        items = response.json()
    except ValueError:
        items = None
    assert response.status_code == 200 and isinstance(items, list), (
        f"{response.status_code} {response.text[:500]!r}; {n8n.describe_last_execution(workflow['id'])}")
    return items


def test_node_package_lints_clean(tmp_path, node_tarball):
    log = tmp_path / "lint.log"  # node_tarball: the package's tooling is installed and it builds
    harness.run(["npm", "run", "lint"], cwd=harness.PACKAGE_DIR, log=log,
                timeout=harness.NPM_STEP_TIMEOUT_SECONDS)


def test_packed_node_loads_as_a_community_node(n8n, workflows):
    installed = n8n.home / ".n8n" / "nodes" / "node_modules" / harness.NODE_PACKAGE_NAME
    manifest = json.loads((installed / "package.json").read_text())
    assert manifest["n8n"]["nodes"] == ["dist/nodes/Tiergate/Tiergate.node.js"]
    assert (installed / manifest["n8n"]["nodes"][0]).exists()
    assert not (installed / "node_modules" / "n8n-workflow").exists(), "n8n-workflow must come from n8n"
    assert not list(installed.rglob("*.tsbuildinfo")), "the package ships no TypeScript build info"
    for url in (manifest["homepage"], manifest["repository"]["url"], manifest["bugs"]["url"]):
        assert "github.com/tiergate-dev/tiergate" in url and ".invalid" not in url, url
    used = {node["type"] for workflow in workflows.values() for node in workflow["nodes"]}
    assert harness.NODE_TYPE in used
    log = harness.tail(n8n.log, 10**6)
    for workflow in workflows.values():  # activation fails when a node type is unknown
        assert f'Activated workflow "{workflow["name"]}"' in log
    assert "Unrecognized node type" not in log


def test_credential_test_accepts_the_key_and_refuses_a_wrong_one(n8n, tiergate, credential_ids):
    (cred_id, name), *_ = credential_ids.items()
    credential = {"id": cred_id, "name": name, "type": "tiergateApi"}

    good = n8n.test_credential({**credential, "data": {"baseUrl": tiergate.url + "/", "apiKey": tiergate.api_key}})
    wrong = n8n.test_credential({**credential, "data": {"baseUrl": tiergate.url, "apiKey": "tg-wrong-key"}})

    assert good["status"] == "OK", good
    assert wrong["status"] == "Error", wrong


def test_list_classification_labels_every_row(n8n, workflows):
    kinds = ["Lead says: we are a B2B reseller, 40 seats", "Private buyer, B2C, one licence", "hello??"]
    rows = [{"id": f"row-{i}", "text": f"{kinds[i % 3]} (#{i})"} for i in range(CLASSIFY_ROWS)]

    response = n8n.webhook(harness.webhook_path(workflows["list-classification"]), {"rows": rows},
                           timeout=WEBHOOK_TIMEOUT_SECONDS)

    labelled = _json_items(response, n8n, workflows["list-classification"])
    assert [item["id"] for item in labelled] == [row["id"] for row in rows]
    for row, item in zip(rows, labelled):
        assert item["text"] == row["text"]  # the row's own fields survive
        assert item["label"] in LABELS, item
        assert isinstance(item["needs_review"], bool)
        assert 0 <= item["confidence"] <= 1
    # Mapping back by id, not by luck: rows naming a label carry that label.
    for row, item in zip(rows, labelled):
        if " B2B " in row["text"]:
            assert item["label"] == "B2B", item
        elif " B2C," in row["text"]:
            assert item["label"] == "B2C", item


def test_crm_cleanup_returns_validated_fields(n8n, workflows):
    records = [
        {"id": "c1", "company": "keller logistik gmbh", "contact": "Anna KELLER",
         "email": "ANNA@KELLER-LOGISTIK.DE", "phone": "+49 30 1234567", "country": "Germany"},
        {"id": "c2", "company": "Keller Logistik GmbH", "contact": "Anna Keller",
         "email": "anna@keller-logistik.de", "phone": "", "country": "Germany"},
        {"id": "c3", "company": "brightwater hotels ltd", "contact": "Tom Oneil",
         "email": "tom.oneil@brightwater.co.uk", "phone": "+44 20 7946 0018", "country": "UK"},
    ]

    response = n8n.webhook(harness.webhook_path(workflows["crm-cleanup"]), {"records": records},
                           timeout=WEBHOOK_TIMEOUT_SECONDS)

    cleaned = _json_items(response, n8n, workflows["crm-cleanup"])
    assert [item["record_id"] for item in cleaned] == ["c1", "c2", "c3"]
    for item in cleaned:
        assert CRM_FIELDS <= item.keys(), item
        assert item["status"] == "done", item
        assert item["needs_review"] is False
        assert item["country"] is None or re.fullmatch(r"[A-Z]{2}", item["country"]), item
        assert item["tier"] in {"tier1", "tier2", "tier3"}
    assert cleaned[0]["company"] == cleaned[1]["company"]
    assert [item["likely_duplicate"] for item in cleaned] == [True, True, False]


@pytest.mark.parametrize(("stem", "node", "sample_node", "sample_field"), [
    ("list-classification", "Classify rows", "Sample rows", "rows"),
    ("crm-cleanup", "Cleaned fields", "Sample records", "records"),
], ids=["list-classification", "crm-cleanup"])
def test_sample_data_runs_from_the_manual_trigger(n8n, workflows, stem, node, sample_node, sample_field):
    workflow = workflows[stem]
    (sample,) = [n for n in workflow["nodes"] if n["name"] == sample_node]
    expected = len(json.loads(sample["parameters"]["jsonOutput"])["body"][sample_field])

    execution = n8n.execute(workflow["id"])

    assert execution["resultData"].get("error") is None, execution["resultData"]["error"]
    items = harness.node_output(execution, node)
    assert len(items) == expected
    for item in items:
        if stem == "list-classification":
            assert item["label"] in LABELS, item
        else:
            assert CRM_FIELDS <= item.keys(), item


def test_every_node_operation_runs_in_n8n(n8n, tiergate):
    """Route, a queued Run With Fallback, Get Job, Get Pending and Decide, chained in one test workflow."""
    path = Path(__file__).parent / "workflows" / "node-operations.workflow.json"
    n8n.cli("import:workflow", f"--input={path}")

    execution = n8n.execute(json.loads(path.read_text())["id"])

    assert execution["resultData"].get("error") is None, execution["resultData"]["error"]
    (route,) = harness.node_output(execution, "Route")
    assert route["decided_by"] == "rules" and route["tier"] in {"tier1", "tier2", "tier3"}, route
    (queued,) = harness.node_output(execution, "Queue a draft")
    assert queued["status"] == "queued" and queued["job_id"], queued
    (job,) = harness.node_output(execution, "Get job")
    assert job["job_id"] == queued["job_id"], job
    pending = harness.node_output(execution, "Pending reviews")
    assert queued["job_id"] in [item.get("request_id") for item in pending], pending
    decided = harness.node_output(execution, "Decide")
    assert len(decided) == len(pending)
    assert {item["status"] for item in decided} == {"rejected"}, decided


def _start_review_run(n8n, tiergate, workflow) -> tuple[int, str]:
    """Start the review workflow; wait until it is parked on the Wait node; return (execution, review id)."""
    before = n8n.last_execution_id(workflow["id"])
    response = n8n.webhook(harness.webhook_path(workflow), {
        "customer_email": "maria.rossi@example.com", "customer_name": "Maria Rossi",
        "subject": "Order 10482 arrived damaged",
        "message": "Hello, the lamp from order 10482 arrived with a cracked shade. Can you replace it?",
    }, timeout=WEBHOOK_TIMEOUT_SECONDS)
    assert response.status_code == 200, response.text[:2000]

    execution_id, _ = n8n.wait_for_execution(workflow["id"], before, {"waiting"}, EXECUTION_TIMEOUT_SECONDS)
    (draft,) = harness.node_output(n8n.execution(execution_id), "Draft reply")
    assert draft["needs_review"] is True, draft
    assert draft["status"] == "needs_review", draft
    pending = tiergate.api("GET", "/v1/reviews", params={"status": "pending", "task_type": "support_reply", "limit": 500}).json()["items"]
    assert draft["review_id"] in [item["review_id"] for item in pending]
    return execution_id, draft["review_id"]


def test_review_workflow_waits_then_resumes_with_the_edited_text(n8n, tiergate, workflows):
    workflow = workflows["support-reply-review"]
    execution_id, review_id = _start_review_run(n8n, tiergate, workflow)

    time.sleep(2)  # nothing resumes it but the decision
    assert n8n.wait_for_execution(workflow["id"], execution_id - 1, {"waiting"}, 5)[1] == "waiting"

    edited = "Dear Maria, we are sorry about the lamp. A new shade ships today. (edited by Jo)"
    decided = tiergate.api("POST", f"/v1/reviews/{review_id}/decision",
                           json={"action": "approve", "text": edited, "note": "warmer tone", "minutes_spent": 2})
    assert decided.status_code == 200, decided.text

    n8n.wait_for_execution(workflow["id"], execution_id - 1, {"success"}, EXECUTION_TIMEOUT_SECONDS)
    execution = n8n.execution(execution_id)
    (resumed,) = harness.node_output(execution, "Wait for the reviewer")
    assert resumed["body"]["event"] == "review.decided"
    assert resumed["body"]["review_id"] == review_id
    (reply,) = harness.node_output(execution, "Approved reply")
    assert reply["reply"] == edited
    assert reply["to"] == "maria.rossi@example.com"
    assert reply["status"] == "approved"
    assert harness.node_output(execution, "Rejected") == []


def test_review_workflow_takes_the_rejected_branch(n8n, tiergate, workflows):
    workflow = workflows["support-reply-review"]
    execution_id, review_id = _start_review_run(n8n, tiergate, workflow)

    decided = tiergate.api("POST", f"/v1/reviews/{review_id}/decision",
                           json={"action": "reject", "note": "we call her instead"})
    assert decided.status_code == 200, decided.text

    n8n.wait_for_execution(workflow["id"], execution_id - 1, {"success"}, EXECUTION_TIMEOUT_SECONDS)
    execution = n8n.execution(execution_id)
    (rejected,) = harness.node_output(execution, "Rejected")
    assert rejected["status"] == "rejected"
    assert rejected["review_id"] == review_id
    assert harness.node_output(execution, "Approved reply") == []


def test_classify_sends_each_label_to_its_own_output(n8n):
    """Classify with "One Output per Label": B2B rows on output 0, B2C on 1, the unsure row on "Other"."""
    path = Path(__file__).parent / "workflows" / "label-outputs.workflow.json"
    n8n.cli("import:workflow", f"--input={path}")

    execution = n8n.execute(json.loads(path.read_text())["id"])

    assert execution["resultData"].get("error") is None, execution["resultData"]["error"]
    b2b, b2c, other = (harness.node_output(execution, "Sort leads", output) for output in range(3))
    assert [item["id"] for item in b2b] == ["a", "d"] and {item["label"] for item in b2b} == {"B2B"}
    assert [item["id"] for item in b2c] == ["b"]
    assert [item["id"] for item in other] == ["c"] and other[0]["needs_review"] is True
    # One review per row: the flagged row has its own review item.
    assert other[0]["review_id"] and other[0]["review_id"].startswith("rev")


# -- the editor, as a person uses it (Playwright on Debian's Chromium) --------------------------------
EDITOR_TIMEOUT_MS = 60_000
ARTIFACTS = harness.REPO_ROOT / "test-artifacts"


@pytest.fixture(scope="module")
def editor(n8n, browser):
    """A Chromium page signed in to the n8n editor as its owner."""
    session = n8n.editor_session()
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    context.add_cookies([{"name": c.name, "value": c.value, "url": n8n.url} for c in session.cookies])
    page = context.new_page()
    page.set_default_timeout(EDITOR_TIMEOUT_MS)
    try:
        yield page
    finally:
        context.close()


def _open_node_panel(page):
    page.keyboard.press("Tab")
    return page.locator('[data-test-id="node-creator-search-bar"] input, input[placeholder^="Search nodes"]').first


def test_node_panel_finds_tiergate_by_name(n8n, editor):
    editor.goto(f"{n8n.url}/workflow/new")
    editor.locator('[data-test-id="canvas-plus-button"], [data-test-id="canvas-add-button"]').first.wait_for()
    search = _open_node_panel(editor)
    search.fill("Tiergate")
    found = editor.locator('[data-test-id="item-iterator-item"]', has_text="Tiergate")
    found.first.wait_for()
    editor.screenshot(path=str(ARTIFACTS / "n8n-node-panel-search.png"))
    assert "Tiergate" in found.first.inner_text()


def test_node_panel_still_lists_tiergate_under_ai(n8n, editor, workflows):
    """AI > Other AI nodes > Miscellaneous, where n8n lists its own AI app nodes."""
    editor.goto(f"{n8n.url}/workflow/{workflows['crm-cleanup']['id']}")  # has a trigger: the action view opens
    editor.locator('[data-test-id="canvas-node"]').first.wait_for()
    _open_node_panel(editor).wait_for()
    panel = editor.locator('[data-test-id="node-creator"]')
    try:
        items = panel.locator('[data-test-id="item-iterator-item"]:visible')
        panel.get_by_text("AI", exact=True).first.click()
        items.filter(has_text=re.compile("Other AI Nodes", re.I)).first.click()
        items.filter(has_text="Miscellaneous").first.click()
        items.filter(has_text="Tiergate").first.wait_for()
    finally:
        editor.screenshot(path=str(ARTIFACTS / "n8n-node-panel-ai.png"))


def test_workflow_shows_the_subtitle_and_the_policy_task_types(n8n, editor, tiergate, workflows):
    workflow = workflows["list-classification"]
    editor.goto(f"{n8n.url}/workflow/{workflow['id']}")
    node = editor.locator('[data-test-id="canvas-node"]', has_text="Classify rows")
    node.wait_for()
    subtitle = editor.get_by_text("Classify · 3 labels")
    subtitle.wait_for()
    editor.screenshot(path=str(ARTIFACTS / "n8n-classify-subtitle.png"))

    node.dblclick()
    editor.locator('[data-test-id="parameter-input-taskType"]').click()
    options = editor.locator(".el-select-dropdown__item:visible, [role='option']:visible")
    options.first.wait_for()
    shown = {text.strip() for text in options.all_inner_texts()}
    editor.screenshot(path=str(ARTIFACTS / "n8n-task-type-dropdown.png"))
    expected = {item["name"] for item in tiergate.api("GET", "/v1/policy/task-types").json()["items"]}
    assert expected and expected <= {line.splitlines()[0] for line in shown if line}, shown


def test_run_and_wait_for_review_pauses_in_one_node_until_the_decision(n8n, tiergate, workflows):
    workflow = workflows["support-reply-one-node"]
    node = "Draft and wait for the reviewer"
    before = n8n.last_execution_id(workflow["id"])
    response = n8n.webhook(harness.webhook_path(workflow), {
        "customer_email": "sam.lee@example.com", "customer_name": "Sam Lee", "subject": "Invoice 2291",
        "message": "Hi, I was charged twice for invoice 2291. Can you refund one of them?"},
        timeout=WEBHOOK_TIMEOUT_SECONDS)
    assert response.status_code == 200, response.text[:2000]
    execution_id, _ = n8n.wait_for_execution(workflow["id"], before, {"waiting"}, EXECUTION_TIMEOUT_SECONDS)

    pending = tiergate.api("GET", "/v1/reviews", params={"status": "pending", "task_type": "support_reply", "limit": 500}).json()["items"]
    (review,) = [item for item in pending if (item.get("metadata") or {}).get("customer_email") == "sam.lee@example.com"]
    time.sleep(2)  # nothing resumes it but the decision
    assert n8n.wait_for_execution(workflow["id"], execution_id - 1, {"waiting"}, 5)[1] == "waiting"

    edited = "Dear Sam, we refunded the second charge for invoice 2291 today. (edited by Jo)"
    decided = tiergate.api("POST", f"/v1/reviews/{review['review_id']}/decision",
                           json={"action": "approve", "text": edited, "minutes_spent": 1})
    assert decided.status_code == 200, decided.text

    n8n.wait_for_execution(workflow["id"], execution_id - 1, {"success"}, EXECUTION_TIMEOUT_SECONDS)
    execution = n8n.execution(execution_id)
    (decision,) = harness.node_output(execution, node)
    assert (decision["event"], decision["action"], decision["approved"]) == ("review.decided", "approve", True)
    assert decision["review_id"] == review["review_id"]
    (reply,) = harness.node_output(execution, "Reply to send")
    assert (reply["reply"], reply["to"]) == (edited, "sam.lee@example.com")
    assert harness.node_output(execution, "Not approved") == []


def test_execute_button_runs_the_sample_data_at_once(n8n, editor, workflows):
    """Imported as shipped: the main Execute button (n8n points it at the Webhook) runs the sample pinned on
    the Webhook instead of waiting for a call, through Tiergate to the end."""
    workflow = workflows["list-classification"]
    editor.goto(f"{n8n.url}/workflow/{workflow['id']}")
    classify = editor.locator('[data-test-id="canvas-node"]', has_text="Classify rows")
    classify.wait_for()
    assert classify.locator('[data-test-id="node-issues"], [data-test-id="canvas-node-status-warning"]').count() == 0
    editor.locator('[data-test-id="execute-workflow-button"]').first.click()
    try:
        classify.locator('[data-test-id="canvas-node-status-success"]').wait_for(timeout=EDITOR_TIMEOUT_MS)
    finally:
        editor.screenshot(path=str(ARTIFACTS / "n8n-execute-sample.png"))
    assert editor.get_by_text("Waiting for trigger event").count() == 0


def _paste_into_new_workflow(n8n, editor, workflow: dict) -> None:
    editor.goto(f"{n8n.url}/workflow/new")
    editor.locator('[data-test-id="canvas-plus-button"], [data-test-id="canvas-add-button"]').first.wait_for()
    text = json.dumps({key: workflow[key] for key in ("nodes", "connections", "pinData")})
    editor.evaluate("""(text) => {
        const data = new DataTransfer();
        data.setData('text/plain', text);
        document.dispatchEvent(new ClipboardEvent('paste', {clipboardData: data, bubbles: true}));
    }""", text)


def test_pasted_workflow_shows_no_credential_warning(n8n, editor, workflows):
    """Import from file or paste drops a credential id n8n does not know and warns on the node (what the
    files with their author's credential id did on every other instance); the shipped files name the
    credential only, and n8n matches this instance's "Tiergate account" by name."""
    foreign = json.loads(json.dumps(workflows["crm-cleanup"]))
    for node in foreign["nodes"]:
        if node["type"] == harness.NODE_TYPE:
            node["credentials"] = {"tiergateApi": {"id": "idOnAnotherInstance", "name": "Tiergate account"}}
    for workflow, warned in ((foreign, 1), (workflows["crm-cleanup"], 0)):
        _paste_into_new_workflow(n8n, editor, workflow)
        node = editor.locator('[data-test-id="canvas-node"]', has_text="Clean record")
        node.wait_for()
        editor.screenshot(path=str(ARTIFACTS / f"n8n-pasted-workflow-{'foreign' if warned else 'shipped'}.png"))
        issues = node.locator('[data-test-id="node-issues"], [data-test-id="canvas-node-status-warning"]')
        assert issues.count() == warned
