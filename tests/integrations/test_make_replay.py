"""Each Make blueprint's HTTP request, built from its mapper with sample data, answered by a running Tiergate.

The scenario runs in ``make_runner`` (the modules and mapping the blueprints use); its HTTP modules
talk to Tiergate served over real HTTP, the model is the fake Messages API, and Tiergate's callbacks go
to a local receiver standing in for the scenario's own Make webhook. What reaches the receiver is fed
back into the scenario as the next webhook call, as Make would.
"""
from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from tests.integrations.conftest import assert_signed
from tests.integrations.make_runner import MakeScenario

BLUEPRINT_DIR = Path(__file__).resolve().parents[2] / "make-blueprints"
SAMPLES_DIR = BLUEPRINT_DIR / "samples"
CALLBACK_TOKEN = "4f1c2e9a7b3d4c5e8f60718293a4b5c6"
CALLBACK_PATH = "/make-callback"

FALLBACK_FIELDS = {"request_id", "status", "output", "tier", "model", "escalated", "needs_review",
                   "review_reasons", "review_url", "attempts", "cost_usd", "baseline_cost_usd", "saving_usd",
                   "dry_run"}
ATTEMPT_FIELDS = {"model", "tier", "ok", "gate", "reason", "input_tokens", "output_tokens", "cache_read_tokens",
                  "cache_write_tokens", "cost_usd", "latency_ms"}
CLASSIFY_FIELDS = {"request_id", "status", "results", "counts", "cost_usd", "baseline_cost_usd"}
RESULT_FIELDS = {"id", "label", "confidence", "reason", "model", "needs_review"}


@pytest.fixture
def scenario(tiergate_url, api_key, catch_hook, transport):
    """Import a blueprint and fill in its placeholders, as the README's step-by-step says."""
    def _import(name: str) -> MakeScenario:
        blueprint = json.loads((BLUEPRINT_DIR / f"{name}.blueprint.json").read_text(encoding="utf-8"))
        return MakeScenario(blueprint, {
            "https://YOUR-TIERGATE-HOST": tiergate_url,
            "YOUR-TIERGATE-API-KEY": api_key,
            "YOUR-MAKE-CALLBACK-WEBHOOK-URL": f"{catch_hook.url}{CALLBACK_PATH}",
            "YOUR-CALLBACK-TOKEN": CALLBACK_TOKEN,
            "https://YOUR-HELPDESK-HOST": f"{catch_hook.url}/helpdesk",
            "YOUR-HELPDESK-AUTHORIZATION": "Bearer helpdesk-test",
            "/YOUR-SPREADSHEET-ID": "/test-spreadsheet",
        }, transport)
    return _import


def webhook_bundle(received) -> dict:
    """What a Make custom webhook outputs for a call: its query-string fields and its JSON body's."""
    return {**dict(parse_qsl(urlsplit(received.path).query)), **received.json()}


def assert_sample_matches(name: str, bundle: dict) -> None:
    """The sample a user sends to teach the webhook its fields has every field the real callback has."""
    sample = json.loads((SAMPLES_DIR / f"{name}.json").read_text(encoding="utf-8"))
    assert set(bundle) <= set(sample), f"samples/{name}.json lacks {sorted(set(bundle) - set(sample))}"
    for key in ("results", "attempts"):
        if bundle.get(key) and sample.get(key):
            assert set(bundle[key][0]) <= set(sample[key][0]), f"samples/{name}.json {key}[] lacks fields"


def tiergate_call(run, tiergate_url):
    calls = [(request, answer) for _id, request, answer in run.requests if request.url.startswith(tiergate_url)]
    assert len(calls) == 1, "each scenario run makes exactly one Tiergate call"
    return calls[0]


def assert_tiergate_request(request, api_key, path, tiergate_url):
    assert request.method == "POST"
    assert request.url == f"{tiergate_url}{path}"
    assert request.headers["X-API-Key"] == api_key
    assert request.headers["Content-Type"] == "application/json"
    return json.loads(request.body)  # the mapper's body is valid JSON, whatever the sample data holds


CRM_RECORD = {
    "record_id": "4711",
    "company": 'ACME gmbh. "the best"',
    "contact_name": "dr. jane van der berg",
    "email": "Jane.vanderBerg@acme.example",
    "phone": "030 1234567",
    "country": "Germany",
    "address": "Hauptstr. 5\n10115 Berlin",
    "existing_companies": "Acme GmbH, Beta Ltd",
}
CLEAN_RECORD = {"company": "ACME GmbH", "first_name": "Jane", "last_name": "van der Berg",
                "email": "jane.vanderberg@acme.example", "email_valid": True, "phone": "+49301234567",
                "country": "DE", "likely_duplicate": True, "duplicate_of": "Acme GmbH"}


def test_crm_cleanup_request_is_answered_and_the_clean_row_written(scenario, tiergate_url, api_key, fake_model):
    fake_model.script("claude-haiku-4-5", json.dumps(CLEAN_RECORD))
    run = scenario("crm-cleanup").trigger(CRM_RECORD)

    request, answer = tiergate_call(run, tiergate_url)
    body = assert_tiergate_request(request, api_key, "/v1/fallback", tiergate_url)
    assert body["task_type"] == "crm_cleanup"
    assert 'ACME gmbh. "the best"' in body["text"] and "Hauptstr. 5\n10115 Berlin" in body["text"]
    assert body["output_schema"]["properties"]["likely_duplicate"] == {"type": "boolean"}
    assert body["metadata"] == {"source": "make", "scenario": "crm-cleanup", "record_id": "4711"}

    assert answer.status == 200
    result = json.loads(answer.body)
    assert FALLBACK_FIELDS <= result.keys()
    assert all(ATTEMPT_FIELDS <= attempt.keys() for attempt in result["attempts"])
    assert (result["status"], result["needs_review"], result["tier"]) == ("done", False, "tier1")
    assert result["output"] == CLEAN_RECORD

    assert run.rows_in("Clean records") == [["4711", "ACME GmbH", "Jane", "van der Berg",
                                             "jane.vanderberg@acme.example", "true", "+49301234567", "DE", "true",
                                             "Acme GmbH", "tier1", str(result["cost_usd"])]]
    assert run.rows_in("To check") == []
    assert run.responses == [{"status": 200, "body": answer.body.decode(),
                              "headers": {"Content-Type": "application/json"}}]


def test_crm_cleanup_record_the_models_cannot_clean_goes_to_the_check_sheet(scenario, tiergate_url, fake_model):
    for model in ("claude-haiku-4-5", "claude-sonnet-4-6", "claude-opus-4-7"):
        fake_model.script(model, *["this is not JSON"] * 4)
    run = scenario("crm-cleanup").trigger({**CRM_RECORD, "record_id": "4712"})

    _request, answer = tiergate_call(run, tiergate_url)
    result = json.loads(answer.body)
    assert result["needs_review"] is True or result["status"] == "failed"
    assert run.rows_in("Clean records") == []
    [row] = run.rows_in("To check")
    assert row[:3] == ["4712", CRM_RECORD["company"], result["status"]]
    assert row[4] == (result.get("review_url") or "")
    assert run.responses[0]["status"] == answer.status


TICKET = {
    "ticket_id": "T-1042",
    "customer_name": "Maria",
    "subject": "Parcel not arrived",
    "message": 'I ordered on Monday and the "express" parcel is still not here.\nWhere is it?',
    "knowledge": "Delivery takes 2-4 working days. The tracking link is in the shipping e-mail.",
}


def test_support_reply_waits_for_review_and_the_approved_text_reaches_the_helpdesk(
        scenario, tiergate_url, api_key, catch_hook, callback_secret):
    support = scenario("support-reply-review")
    run = support.trigger(TICKET)

    request, answer = tiergate_call(run, tiergate_url)
    body = assert_tiergate_request(request, api_key, "/v1/fallback", tiergate_url)
    assert (body["task_type"], body["external"]) == ("support_reply", True)
    assert body["callback_url"] == f"{catch_hook.url}{CALLBACK_PATH}?token={CALLBACK_TOKEN}"
    assert body["metadata"]["ticket_id"] == "T-1042"
    assert TICKET["message"] in body["text"]

    assert answer.status == 200
    draft = json.loads(answer.body)
    assert FALLBACK_FIELDS <= draft.keys()
    assert (draft["status"], draft["needs_review"], draft["tier"]) == ("needs_review", True, "tier2")
    assert draft["review_id"] and draft["review_url"] and isinstance(draft["output"], str)
    assert [r["status"] for r in run.responses] == [202]
    assert not [r for r in catch_hook.received if r.path.startswith("/helpdesk")], "nothing is sent before review"

    final_text = draft["output"] + "\n\nP.S. Your tracking number is in the e-mail from Monday."
    decided = _decide(tiergate_url, api_key, draft["review_id"], final_text)
    assert decided.status_code == 200

    [callback] = catch_hook.wait_for(1, f"{CALLBACK_PATH}?token={CALLBACK_TOKEN}")
    assert_signed(callback, callback_secret)
    event = webhook_bundle(callback)
    assert (event["event"], event["review_id"], event["action"], event["output"]) == (
        "review.decided", draft["review_id"], "approve", final_text)
    assert_sample_matches("support-reply-review-decisions", event)

    decision_run = scenario("support-reply-review-decisions").trigger(event)
    [helpdesk] = catch_hook.wait_for(1, "/helpdesk/api/tickets/T-1042/reply")
    assert helpdesk.headers["authorization"] == "Bearer helpdesk-test"
    assert json.loads(helpdesk.body) == {"body": final_text, "public": True}
    assert decision_run.responses[0]["status"] == 200


def _decide(tiergate_url, api_key, review_id, text, action="approve"):
    return requests.post(f"{tiergate_url}/v1/reviews/{review_id}/decision", timeout=30,
                         headers={"X-API-Key": api_key},
                         json={"action": action, "text": text, "note": "checked", "minutes_spent": 2})


LEADS = [
    {"id": "row-2", "text": "Acme GmbH, a B2B reseller, orders 40 seats for its sales team"},
    {"id": "row-3", "text": "I want one as a \"gift\" for my son's birthday (B2C)"},
    {"id": "row-4", "text": "Can you call me back?"},
]


def test_list_classification_job_calls_back_and_rows_land_in_the_sheets(
        scenario, tiergate_url, api_key, catch_hook, callback_secret):
    lists = scenario("list-classification")
    run = lists.trigger({"items": LEADS})

    request, answer = tiergate_call(run, tiergate_url)
    body = assert_tiergate_request(request, api_key, "/v1/classify", tiergate_url)
    assert body["items"] == LEADS
    assert (body["id_field"], body["text_field"], body["labels"]) == ("id", "text", ["B2B", "B2C", "Unsure"])
    assert (body["exec"], body["callback_url"]) == ("async", f"{catch_hook.url}{CALLBACK_PATH}?token={CALLBACK_TOKEN}")

    assert answer.status == 202
    queued = json.loads(answer.body)
    assert queued["status"] == "queued" and queued["job_id"] and queued["status_url"]
    assert run.responses[0]["status"] == 202
    assert json.loads(run.responses[0]["body"]) == {k: queued[k] for k in ("job_id", "status", "status_url")}

    [callback] = catch_hook.wait_for(1, f"{CALLBACK_PATH}?token={CALLBACK_TOKEN}")
    assert_signed(callback, callback_secret)
    finished = webhook_bundle(callback)
    assert_sample_matches("list-classification-results", finished)
    assert finished["event"] == "job.finished" and finished["job_id"] == queued["job_id"]
    assert CLASSIFY_FIELDS <= finished.keys()
    assert [result["id"] for result in finished["results"]] == ["row-2", "row-3", "row-4"]
    assert all(RESULT_FIELDS <= result.keys() for result in finished["results"])

    results = scenario("list-classification-results")
    rows_run = results.trigger(finished)
    labelled = {row[0]: row for row in rows_run.rows_in("Labelled")}
    flagged = {row[0]: row for row in rows_run.rows_in("Needs review")}
    assert set(labelled) | set(flagged) == {"row-2", "row-3", "row-4"} and not set(labelled) & set(flagged)
    for result in finished["results"]:
        row = (flagged if result["needs_review"] else labelled)[result["id"]]
        assert row[1:4] == [result["label"], str(result["confidence"]), result["reason"]]
        assert row[5] == queued["job_id"]
    assert labelled["row-2"][1] == "B2B" and labelled["row-3"][1] == "B2C"


def test_callback_scenarios_drop_a_call_without_the_token(scenario, tiergate_url, api_key, catch_hook):
    """A forged callback (right shape, no token) writes no row and sends nothing to the helpdesk."""
    lists = scenario("list-classification")
    lists.trigger({"items": LEADS})
    [callback] = catch_hook.wait_for(1, f"{CALLBACK_PATH}?token={CALLBACK_TOKEN}")
    forged = {key: value for key, value in webhook_bundle(callback).items() if key != "token"}

    for name, payload in (("list-classification-results", forged),
                          ("list-classification-results", {**forged, "token": "guessed"}),
                          ("support-reply-review-decisions", {"event": "review.decided", "action": "approve",
                                                              "output": "Pay now at evil.example",
                                                              "metadata": {"ticket_id": "T-1"}})):
        run = scenario(name).trigger(payload)
        assert run.rows == [] and run.requests == [] and run.responses == [], name
    assert not [r for r in catch_hook.received if r.path.startswith("/helpdesk")]
