"""The report over traffic that really went through /v1/fallback (worker process, fake Messages API):
its totals are the sums of what the API answered, and its levers add up to them."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest

from tests.support.fake_anthropic import Reply
from tests.test_fallback_api import CRM_RECORD, HAIKU, SONNET, app, worker  # noqa: F401  (fixtures)

D = Decimal


def test_report_totals_are_the_sums_the_fallback_answers_gave(client, auth, app, worker, fake_anthropic):
    fake_anthropic.script(HAIKU, Reply.ok("{broken", 1000, 100), Reply.ok("{still broken", 1000, 100),
                          Reply.ok('{"label": "B2B", "confidence": 0.9, "reason": "GmbH"}', 800, 30))
    fake_anthropic.script(SONNET, Reply.ok(json.dumps(CRM_RECORD), 1200, 150))
    answers = []
    for body in ({"task_type": "crm_cleanup", "text": "jane DOE, acme gmbh., jane@acme.de, +49 30 1234567, Germany"},
                 {"task_type": "classification", "text": "Acme GmbH, 40 staff: B2B or B2C?"},
                 {"task_type": "summary", "text": "Notes: ship on Friday, Anna owns QA."}):
        response = client.post("/v1/fallback", headers=auth, json=body)
        assert response.status_code == 200, response.get_json()
        answers.append(response.get_json())

    report = client.get("/v1/reports/savings", headers=auth).get_json()
    total = report["total"]
    assert total["requests"] == 3
    assert D(repr(total["cost_usd"])) == sum(D(repr(answer["cost_usd"])) for answer in answers)
    assert D(repr(total["baseline_cost_usd"])) == sum(D(repr(answer["baseline_cost_usd"])) for answer in answers)
    levers = {name: D(repr(value)) for name, value in report["attribution"].items()}
    assert D(repr(total["saving_usd"])) == (levers["routing_usd"] + levers["caching_usd"] + levers["batch_usd"]
                                            - levers["overhead_usd"])
    # The crm_cleanup request paid for two failed Haiku tries: 2 x (1,000 x 1 + 100 x 5) / 1e6.
    assert levers["overhead_usd"] == D("0.003")
    quality = {entry["task_type"]: entry for entry in
               client.get("/v1/reports/quality", headers=auth).get_json()["classes"]}
    assert quality["crm_cleanup"]["escalation_pct"] == 100.0
    assert quality["crm_cleanup"]["format_success_pct"] == pytest.approx(100 / 3, abs=0.01)
    assert quality["classification"]["format_success_pct"] == 100.0
