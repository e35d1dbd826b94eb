"""What Webhooks by Zapier sends, replayed against a running Tiergate, as docs/zapier.md describes it.

Zapier's POST action sends form-encoded fields by default (lists as comma-separated values or repeated
keys, booleans as "true"/"false", ``metadata[x]`` keys), or JSON; its user agent is ``Zapier``. Long
work answers 202 and is posted to a Catch Hook, played here by a local receiver.
"""
from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests

from tests.integrations.conftest import assert_signed
from tests.support.fake_anthropic import Reply

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "zapier.md"
ZAPIER = {"User-Agent": "Zapier"}
LABELS = ["B2B", "B2C", "Unsure"]
LEADS = ["Acme GmbH, a B2B reseller, orders 40 seats", "A gift for my son, B2C", "Call me back"]
FLAT_FIELDS = ("request_id", "status", "needs_review", "review_url", "tier", "model", "cost_usd",
               "baseline_cost_usd", "saving_usd")


def post(url, api_key, *, data=None, json_body=None, headers=None):
    return requests.post(url, data=data, json=json_body, timeout=60,
                         headers={**ZAPIER, "X-API-Key": api_key, **(headers or {})})


def assert_flat(answer: dict) -> None:
    """The fields a Zap maps most are top-level scalars, so Zapier's field picker shows them directly."""
    for name in FLAT_FIELDS:
        assert name in answer, name
        assert not isinstance(answer[name], (dict, list)), name


def labels_by_text(answer: dict) -> list[str]:
    return [result["label"] for result in answer["results"]]


# ---- list classification ---------------------------------------------------------------------------

CLASSIFY_FORMS = {
    "items repeated, labels comma-separated": [("items", "Acme GmbH orders 40 seats (B2B)"),
                                               ("items", "A gift for my son (B2C)"),
                                               ("items", "Call me back"), ("labels", "B2B,B2C,Unsure")],
    "items as a JSON array, labels repeated": [("items", json.dumps(LEADS))] + [("labels", label) for label in LABELS],
    "labels with brackets, Zapier line items": [("items[]", "Acme GmbH orders 40 seats (B2B)"),
                                                ("items[]", "A gift for my son (B2C)"),
                                                ("items[]", "Call me back"), ("labels", "B2B, B2C, Unsure")],
}


@pytest.mark.parametrize("fields", CLASSIFY_FORMS.values(), ids=CLASSIFY_FORMS.keys())
def test_form_classify_accepts_zapier_lists(tiergate_url, api_key, fields):
    fields = fields + [("confidence_threshold", "0.75"), ("allow_unknown", "true"), ("metadata[sheet]", "Leads")]
    response = post(f"{tiergate_url}/v1/classify", api_key, data=fields)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["status"] in {"done", "needs_review"}
    assert len(answer["results"]) == 3
    assert labels_by_text(answer)[:2] == ["B2B", "B2C"]
    assert all(result["label"] in LABELS + ["unknown"] for result in answer["results"])
    assert sum(answer["counts"].values()) == 3


def test_json_classify_with_unflattened_metadata(tiergate_url, api_key):
    response = post(f"{tiergate_url}/v1/classify", api_key, json_body={
        "items": LEADS, "labels": LABELS, "allow_unknown": True, "metadata": {"zap": "leads"}})
    assert response.status_code == 200, response.text
    assert labels_by_text(response.json())[:2] == ["B2B", "B2C"]


def test_large_list_answers_202_and_posts_the_result_to_the_catch_hook(
        tiergate_url, api_key, catch_hook, callback_secret):
    response = post(f"{tiergate_url}/v1/classify", api_key, data=[
        ("items", json.dumps(LEADS)), ("labels", "B2B,B2C,Unsure"), ("exec", "async"),
        ("callback_url", f"{catch_hook.url}/hooks/catch/1/list"), ("metadata[sheet]", "Leads")])
    assert response.status_code == 202, response.text
    queued = response.json()
    assert queued["status"] == "queued" and queued["job_id"]
    assert queued["status_url"].endswith(f"/v1/jobs/{queued['job_id']}")

    [callback] = catch_hook.wait_for(1, "/hooks/catch/1/list")
    assert_signed(callback, callback_secret)
    assert callback.headers["content-type"].startswith("application/json")
    finished = callback.json()
    assert (finished["event"], finished["job_id"]) == ("job.finished", queued["job_id"])
    assert labels_by_text(finished)[:2] == ["B2B", "B2C"]
    assert finished.get("metadata") == {"sheet": "Leads"}

    status = requests.get(urljoin(tiergate_url, queued["status_url"]), headers={"X-API-Key": api_key},
                          timeout=30).json()
    assert status["job_id"] == queued["job_id"] and status["status"] == finished["status"]
    assert status["progress"]["done"] == status["progress"]["total"]
    assert labels_by_text(status["result"])[:2] == ["B2B", "B2C"]


# ---- CRM cleanup ----------------------------------------------------------------------------------

def test_form_crm_cleanup_answers_flat_fields_and_echoes_metadata(tiergate_url, api_key):
    response = post(f"{tiergate_url}/v1/fallback", api_key, data={
        "task_type": "crm_cleanup",
        "text": "ACME gmbh, dr. jane van der berg, Jane@acme.example, +49 30 1234567, germany",
        "metadata[record_id]": "4711",
        "external": "false",
    })
    assert response.status_code == 200, response.text
    answer = response.json()
    assert_flat(answer)
    assert (answer["status"], answer["needs_review"], answer["tier"]) == ("done", False, "tier1")
    output = answer["output"]
    assert isinstance(output, dict)
    assert (output["company"], output["email"], output["country"]) == ("Acme GmbH", "Jane@acme.example", "DE")
    assert answer["metadata"] == {"record_id": "4711"}


def test_form_crm_cleanup_with_an_output_schema_pasted_as_json(tiergate_url, api_key):
    schema = {"type": "object", "required": ["company"], "properties": {"company": {"type": ["string", "null"]}}}
    response = post(f"{tiergate_url}/v1/fallback", api_key, data={
        "task_type": "crm_cleanup", "text": "ACME gmbh, jane doe, jane@acme.example",
        "output_schema": json.dumps(schema)})
    assert response.status_code == 200, response.text
    assert response.json()["output"]["company"] == "Acme GmbH"


# ---- customer-service reply with review -----------------------------------------------------------

def test_support_reply_is_held_for_review_and_the_decision_reaches_the_second_zap(
        tiergate_url, api_key, catch_hook, callback_secret):
    response = post(f"{tiergate_url}/v1/fallback", api_key, data={
        "task_type": "support_reply",
        "text": "Customer: Maria. Message: my parcel has not arrived since Monday. "
                "Knowledge: delivery takes 2-4 working days.",
        "external": "true",
        "callback_url": f"{catch_hook.url}/hooks/catch/1/replies",
        "metadata[ticket_id]": "T-1042",
    })
    assert response.status_code == 200, response.text
    draft = response.json()
    assert_flat(draft)
    assert (draft["status"], draft["needs_review"], draft["tier"]) == ("needs_review", True, "tier2")
    assert draft["review_id"] and isinstance(draft["output"], str) and draft["output"]

    pending = requests.get(f"{tiergate_url}/v1/reviews", params={"status": "pending"},
                           headers={"X-API-Key": api_key}, timeout=30).json()
    assert draft["review_id"] in [item["review_id"] for item in pending["items"]]

    edited = draft["output"] + "\nYour parcel left our warehouse on Tuesday."
    decided = requests.post(f"{tiergate_url}/v1/reviews/{draft['review_id']}/decision", timeout=30,
                            headers={"X-API-Key": api_key},
                            json={"action": "approve", "text": edited, "minutes_spent": 1})
    assert decided.status_code == 200, decided.text

    [callback] = catch_hook.wait_for(1, "/hooks/catch/1/replies")
    assert_signed(callback, callback_secret)
    event = callback.json()
    # What Zap B filters on and maps: Event, Action, Output, Metadata Ticket Id.
    assert (event["event"], event["action"], event["output"]) == ("review.decided", "approve", edited)
    assert event["review_id"] == draft["review_id"]
    assert event.get("metadata", {}).get("ticket_id") == "T-1042"


def test_a_draft_slower_than_5_seconds_is_still_answered_within_zapiers_30(tiergate_url, api_key, fake_model):
    """Tier2 drafts often take 5-15 s; the sync wait (25 s) must hold, then 202 — never a 500."""
    fake_model.script("claude-sonnet-4-6", Reply.hang(7, text="Hello Maria, your parcel left on Tuesday."))
    response = post(f"{tiergate_url}/v1/fallback", api_key, data={
        "task_type": "support_reply", "text": "Customer: Maria. Where is my parcel?", "external": "true"})
    assert response.status_code == 200, response.text
    assert response.json()["output"] == "Hello Maria, your parcel left on Tuesday."


def test_json_support_reply_never_auto_sends(tiergate_url, api_key):
    response = post(f"{tiergate_url}/v1/fallback", api_key, json_body={
        "task_type": "support_reply", "text": "Customer asks where the invoice is.", "external": True})
    assert response.status_code == 200, response.text
    assert response.json()["needs_review"] is True


def test_form_errors_are_json_with_the_field(tiergate_url, api_key):
    response = post(f"{tiergate_url}/v1/fallback", api_key, data={"task_type": "crm_cleanup", "risk": "extreme",
                                                                 "text": "x"})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "risk"
    unauthorised = requests.post(f"{tiergate_url}/v1/fallback", data={"text": "x"}, headers=ZAPIER, timeout=30)
    assert unauthorised.status_code == 401 and "error" in unauthorised.json()


# ---- the guide's own examples ---------------------------------------------------------------------

def guide_requests() -> list[list[str]]:
    """Every ``curl`` command in docs/zapier.md, as argument lists."""
    blocks = re.findall(r"```sh\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)
    return [shlex.split(block.replace("\\\n", " ")) for block in blocks if block.lstrip().startswith("curl")]


def send_curl(argv: list[str], tiergate_url: str, api_key: str) -> requests.Response:
    method, url, headers, form, data = "GET", None, {}, [], None
    args = iter(argv[1:])
    for arg in args:
        if arg == "-X":
            method = next(args)
        elif arg == "-H":
            name, _, value = next(args).partition(":")
            headers[name.strip()] = value.strip().replace("<your key>", api_key)
        elif arg == "--data-urlencode":
            name, _, value = next(args).partition("=")
            form.append((name, value))
        elif arg == "-d":
            data = next(args)
        elif arg.startswith("http"):
            url = arg.replace("https://tiergate.example.com", tiergate_url)
        else:
            raise AssertionError(f"the test does not understand curl option {arg}")
    return requests.request(method, url, headers=headers, data=form or data, timeout=60)


def test_the_guide_has_form_and_json_examples():
    commands = [" ".join(argv) for argv in guide_requests()]
    assert any("--data-urlencode" in c for c in commands) and any("application/json" in c for c in commands)


@pytest.mark.parametrize("argv", guide_requests(), ids=lambda argv: next(a for a in argv if "/v1/" in a).rsplit("/", 1)[-1])
def test_guide_request_works_as_written(argv, tiergate_url, api_key):
    response = send_curl(argv, tiergate_url, api_key)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["status"] in {"done", "needs_review"}
    assert answer.get("output") or answer.get("results")
