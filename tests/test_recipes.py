"""Every recipe of the default policy end to end: HTTP -> queue -> worker -> the real SDK -> the fake
Messages API -> gates -> the answer, and the recipe's stable prompt served from the provider's cache."""
from __future__ import annotations

import json

import jsonschema
import pytest
from sqlalchemy import select

from app.policy import load_policy
from app.providers.tokens import estimate_tokens
from app.store import Attempt
from tests.test_fallback_api import app, worker  # noqa: F401  (fixtures: app with a provider key, a worker)

HAIKU, SONNET, OPUS = "claude-haiku-4-5", "claude-sonnet-4-6", "claude-opus-4-7"
POLICY = load_policy()
RECIPES = ("classification", "list_classification", "extraction", "crm_cleanup", "format_rewrite", "translation",
           "faq_answer", "summary", "support_reply", "code_review", "strategy")

REVIEW = {"verdict": "request_changes", "summary": "The retry loop can spin forever.",
          "findings": [{"severity": "major", "where": "sync.py:42", "issue": "no upper bound on retries",
                        "fix": "stop after three attempts"}]}
STRATEGY = ("Situation: one shop, steady demand. Options: a second shop (more reach, rent risk) or online "
            "orders (cheap, slower growth). Recommendation: start online orders now and revisit the second shop "
            "in six months. Assumptions and next steps: demand holds; set up ordering, measure, decide in Q3.")

# task type -> (request fields, scripted replies per model or None for the fake's own recipe answers, check)
CASES = {
    "classification": ({"text": "ACME GmbH (B2B) wants 40 seats", "labels": ["B2B", "B2C", "Unsure"]}, None,
                       lambda out: out["label"] == "B2B"),
    "extraction": ({"text": "Extract the email and phone: Jane, jane@acme.de, +49 30 1234567"}, None,
                   lambda out: out == {"email": "jane@acme.de", "phone": "+49 30 1234567"}),
    "crm_cleanup": ({"text": "jane DOE, acme gmbh., jane@acme.de, +49 30 1234567, Germany"}, None,
                    lambda out: (out["company"], out["country"], out["phone"]) == ("Acme GmbH", "DE", "+49301234567")),
    "format_rewrite": ({"text": "Format this as title case: quarterly sales report"}, None,
                       lambda out: out.startswith("Fake answer: Format this")),
    "translation": ({"text": "Translate into German: Your order has shipped."}, None,
                    lambda out: "Your order has shipped" in out),
    "faq_answer": ({"text": "What are your opening hours?", "knowledge": ["Opening hours: Mon-Fri 9-17."]}, None,
                   lambda out: out.startswith("Fake answer")),
    "summary": ({"text": "Meeting notes: we agreed to ship on Friday; Anna owns the launch."}, None,
                lambda out: "ship on Friday" in out),
    "support_reply": ({"text": "Hola, mi paquete no ha llegado. ¿Dónde está?", "external": True,
                       "knowledge": ["Delivery takes 2-4 working days."]}, None,
                      lambda out: "support team" in out),
    "code_review": ({"text": "Review this pull request: sync.py retries forever"}, {OPUS: [json.dumps(REVIEW)]},
                    lambda out: out == REVIEW),
    "strategy": ({"text": "Should we open a second shop or sell online?"}, {OPUS: [STRATEGY]},
                 lambda out: out.startswith("Situation")),
}


def test_every_recipe_is_complete():
    for name in RECIPES:
        task = POLICY.task_types[name]
        assert len(task.prompt.strip()) > 150, f"{name}: the prompt's stable part is too thin"
        assert task.gates and task.gates[0].name == "non_empty", name
        if task.output_format == "json":
            assert task.output_schema, f"{name}: a JSON recipe needs its output schema"
            jsonschema.validators.validator_for(task.output_schema).check_schema(task.output_schema)
            assert {"json", "schema"} <= {gate.name for gate in task.gates}, name
        else:
            assert any(gate.name == "length" for gate in task.gates), f"{name}: a text recipe bounds its length"
    assert POLICY.task_types["support_reply"].tier == "tier2" and POLICY.task_types["support_reply"].review == "always"
    assert POLICY.task_types["list_classification"].tier == POLICY.task_types["crm_cleanup"].tier == "tier1"


@pytest.mark.parametrize("task_type", sorted(CASES))
def test_recipe_runs_end_to_end_and_its_prompt_is_cached_only_over_the_minimum(task_type, client, auth, app, worker,
                                                                               fake_anthropic):
    fields, scripts, check = CASES[task_type]
    task = POLICY.task_types[task_type]
    answers = []
    for _ in range(2):  # a second identical request would read a cacheable prefix from the cache
        for model, replies in (scripts or {}).items():
            fake_anthropic.script(model, *replies)
        response = client.post("/v1/fallback", headers=auth, json={"task_type": task_type, **fields})
        assert response.status_code == 200, response.get_json()
        answers.append(response.get_json())
    first, second = answers
    assert first["status"] in ("done", "needs_review") and not first["escalated"], first
    assert first["tier"] == task.tier and check(first["output"]), first["output"]
    if task.output_schema:
        jsonschema.validate(first["output"], task.output_schema)
    if task_type == "support_reply":
        assert first["status"] == "needs_review" and first["review_id"]
        assert "task_type_review" in first["review_reasons"] or any("always" in r for r in first["review_reasons"])
    else:
        assert first["status"] == "done" and not first["needs_review"]
    call = fake_anthropic.requests[0]
    assert call.prefix_system.startswith(task.prompt.strip())
    assert fields["text"] not in call.prefix_system  # the input never joins the stable prefix
    # The default recipe prompts are shorter than the model's minimum cacheable prefix: the real API
    # would cache nothing, so nothing is marked and the ledger shows no cache tokens.
    (answer,) = [a for a in second["attempts"] if a["ok"]]
    cacheable = POLICY.prices.cacheable(answer["model"], estimate_tokens(call.prefix_system))
    assert not cacheable and call.cached_system == []
    assert answer["cache_read_tokens"] == answer["cache_write_tokens"] == 0


def test_crm_cleanup_flags_a_likely_duplicate_and_rejects_a_bad_country(client, auth, app, worker, fake_anthropic):
    record = {"company": "Acme GmbH", "first_name": "Jane", "last_name": "Doe", "email": "jane@acme.de",
              "email_valid": True, "phone": "+49301234567", "phone_valid": True, "country": "DE",
              "likely_duplicate": True, "duplicate_of": "Acme GmbH"}
    fake_anthropic.script(HAIKU, json.dumps({**record, "country": "Germany"}), json.dumps(record))
    response = client.post("/v1/fallback", headers=auth, json={
        "task_type": "crm_cleanup",
        "text": "Record: jane DOE, ACME gmbh., jane@acme.de, 030 1234567, Germany\nOther records in this batch: "
                "Acme GmbH (id 17), Beta Ltd (id 18)"})
    body = response.get_json()
    assert body["output"]["likely_duplicate"] is True and body["output"]["duplicate_of"] == "Acme GmbH"
    assert [(a["ok"], a["gate"]) for a in body["attempts"]] == [(False, "schema"), (True, None)]
    assert "does not match '^[A-Z]{2}$'" in body["attempts"][0]["reason"]
    assert "likely_duplicate" in fake_anthropic.requests[0].prefix_system


def test_list_classification_recipe_runs_through_classify(client, auth, app, fake_anthropic):
    body = client.post("/v1/classify", headers=auth, json={
        "items": ["Acme GmbH, B2B order", "birthday gift, B2C"], "labels": ["B2B", "B2C", "Unsure"],
        "task_type": "list_classification"}).get_json()
    assert [r["label"] for r in body["results"]] == ["B2B", "B2C"] and body["status"] == "done"
    (call,) = fake_anthropic.requests
    assert call.prefix_system.startswith(POLICY.task_types["list_classification"].prompt.strip())
    with app.extensions["store"].session() as session:
        (attempt,) = session.scalars(select(Attempt).where(Attempt.request_id == body["request_id"])).all()
        assert (attempt.tier, attempt.model, attempt.purpose) == ("tier1", HAIKU, "answer")
