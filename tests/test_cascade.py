"""The cascade's exact paths, attempts and costs, with the real SDK talking to the fake Messages API.

Costs are hand-computed from the default prices (USD per million tokens, input/output): Haiku 1/5,
Sonnet 3/15 (also the baseline), Opus 5/25; cache write 1.25x and cache read 0.1x input.
"""
from __future__ import annotations

import json
from decimal import Decimal

import pytest

from app.cascade import CascadeInput, run_cascade
from app.policy import GateSpec, load_policy
import time

from app.providers import AnthropicProvider, CircuitBreaker, DryRunProvider
from tests.support.fake_anthropic import Reply

HAIKU, SONNET, OPUS = "claude-haiku-4-5", "claude-sonnet-4-6", "claude-opus-4-7"
POLICY = load_policy()
LABELS = ["B2B", "B2C", "Unsure"]
CRM_INPUT = "jane DOE, acme gmbh., jane@acme.de, +49 30 1234567, Germany"
CRM_RECORD = {"company": "Acme GmbH", "first_name": "Jane", "last_name": "Doe", "email": "jane@acme.de",
              "email_valid": True, "phone": "+49301234567", "country": "DE"}


def job(task_type: str, tier: str | None = None, **fields) -> CascadeInput:
    task = fields.pop("task", POLICY.task_types[task_type])
    fields.setdefault("text", CRM_INPUT if task_type == "crm_cleanup" else "ACME GmbH, a B2B buyer, wants 40 seats")
    return CascadeInput(task_type=task_type, task=task, tier=tier or task.tier, **fields)


# The same policy with every tier set to move on when its provider fails (the default is to wait).
NEXT_TIER_POLICY = POLICY.model_copy(update={"tiers": {name: tier.model_copy(update={"on_provider_error": "next_tier"})
                                                       for name, tier in POLICY.tiers.items()}})


def run(provider, cascade_input: CascadeInput, policy=POLICY, **options):
    return run_cascade(policy, cascade_input, {tier: provider for tier in policy.tiers}, **options)


def path(result) -> list[tuple[str, str, bool, str | None]]:
    return [(a.tier, a.purpose, a.ok, a.gate) for a in result.attempts]


def test_broken_json_is_retried_then_escalated_with_the_hint_and_succeeds(fake_anthropic, sdk_provider):
    fake_anthropic.script(HAIKU, Reply.ok("{broken", 1000, 100), Reply.ok("{still broken", 1000, 100))
    fake_anthropic.script(SONNET, Reply.ok(json.dumps(CRM_RECORD), 1200, 150))
    result = run(sdk_provider, job("crm_cleanup"))
    assert path(result) == [("tier1", "retry", False, "json"), ("tier1", "retry", False, "json"),
                            ("tier2", "answer", True, None)]
    assert (result.status, result.tier, result.model, result.escalated) == ("done", "tier2", SONNET, True)
    assert result.output == CRM_RECORD and not result.needs_review
    # Haiku 1000 in + 100 out = 0.0015, twice; Sonnet 1200 in + 150 out = 0.0036 + 0.00225 = 0.00585.
    assert [a.cost_usd for a in result.attempts] == [Decimal("0.0015"), Decimal("0.0015"), Decimal("0.00585")]
    assert result.cost_usd == Decimal("0.00885")
    assert result.baseline_cost_usd == Decimal("0.00585")  # only the kept answer has a baseline
    assert result.to_dict()["saving_usd"] == -0.003
    retry, escalation = fake_anthropic.requests_for(HAIKU)[1], fake_anthropic.requests_for(SONNET)[0]
    assert "<<<\n{broken\n>>>\nProblem: the answer is not valid JSON" in retry.uncached_system[0]
    hint = escalation.uncached_system[0]
    assert "Answer from tier1 (claude-haiku-4-5):\n<<<\n{broken\n>>>" in hint
    assert "<<<\n{still broken\n>>>\nProblem: the answer is not valid JSON" in hint
    # The cacheable prefix (prompt + the task's schema) is byte-identical on every call.
    prefixes = {tuple(r.cached_system) for r in fake_anthropic.requests}
    assert len(prefixes) == 1 and next(iter(prefixes))[0].startswith(POLICY.task_types["crm_cleanup"].prompt.strip())


def test_label_outside_the_set_is_retried_once_on_tier1(fake_anthropic, sdk_provider):
    fake_anthropic.script(HAIKU, Reply.ok('{"label": "Enterprise", "confidence": 0.9}', 200, 20),
                          Reply.ok('{"label": "B2B", "confidence": 0.9}', 220, 20))
    result = run(sdk_provider, job("classification", labels=LABELS))
    assert path(result) == [("tier1", "retry", False, "label_in_set"), ("tier1", "answer", True, None)]
    assert result.attempts[0].reason == "label 'Enterprise' is not one of the allowed labels: B2B, B2C, Unsure"
    assert (result.status, result.tier, result.escalated) == ("done", "tier1", False)
    assert result.output == {"label": "B2B", "confidence": 0.9}
    # 200*1 + 20*5 = 300 -> 0.0003; 220*1 + 20*5 = 320 -> 0.00032; baseline 220*3 + 20*15 = 960 -> 0.00096.
    assert (result.cost_usd, result.baseline_cost_usd, result.saving_usd) == (
        Decimal("0.00062"), Decimal("0.00096"), Decimal("0.00034"))
    assert "Allowed labels: B2B, B2C, Unsure" in fake_anthropic.requests[0].uncached_system[0]


def test_an_unsure_answer_goes_up_a_tier_without_a_same_tier_retry(fake_anthropic, sdk_provider):
    fake_anthropic.script(HAIKU, Reply.ok('{"label": "B2B", "confidence": 0.4}', 200, 20))
    fake_anthropic.script(SONNET, Reply.ok('{"label": "B2C", "confidence": 0.95}', 300, 20))
    result = run(sdk_provider, job("classification", labels=LABELS))
    assert path(result) == [("tier1", "retry", False, "confidence"), ("tier2", "answer", True, None)]
    assert result.attempts[0].reason == "the model is unsure: confidence 0.4 is below 0.75"
    assert (result.tier, result.escalated, result.output["label"]) == ("tier2", True, "B2C")
    assert (result.cost_usd, result.baseline_cost_usd) == (Decimal("0.0015"), Decimal("0.0012"))


def test_top_tier_failing_ends_in_review_with_every_earlier_answer_as_a_hint(fake_anthropic, sdk_provider):
    fake_anthropic.script(HAIKU, Reply.ok('{"label": "x"}', 200, 20), Reply.ok('{"label": "y"}', 200, 20))
    fake_anthropic.script(SONNET, Reply.ok('{"label": "z"}', 300, 20))
    fake_anthropic.script(OPUS, Reply.ok('{"label": "w"}', 300, 20))
    result = run(sdk_provider, job("classification", labels=LABELS))
    assert path(result) == [("tier1", "retry", False, "label_in_set"), ("tier1", "retry", False, "label_in_set"),
                            ("tier2", "escalation", False, "label_in_set"), ("tier3", "answer", False, "label_in_set")]
    assert (result.status, result.needs_review, result.tier, result.output) == ("needs_review", True, "tier3",
                                                                                '{"label": "w"}')
    assert result.review_reasons == ["top_tier_failed"]
    assert result.review_details[0]["detail"] == ("the top tier (tier3) failed: label 'w' is not one of the allowed "
                                                  "labels: B2B, B2C, Unsure")
    assert fake_anthropic.requests_for(OPUS)[0].uncached_system[0].count("Answer from tier") == 3
    # 0.0003 + 0.0003 + (900 + 300) / 1e6 + (1500 + 500) / 1e6; baseline: Opus's tokens on Sonnet.
    assert (result.cost_usd, result.baseline_cost_usd) == (Decimal("0.0038"), Decimal("0.0012"))


def test_spend_cap_stops_escalation_and_sends_the_draft_to_review(fake_anthropic, sdk_provider):
    fake_anthropic.script(HAIKU, Reply.ok("{broken", 1000, 100), Reply.ok("{still broken", 1000, 100))
    result = run(sdk_provider, job("crm_cleanup", max_cost_usd=Decimal("0.004")))
    # Next try estimate: (1000 + 100) input and 100 output on Sonnet = 0.0033 + 0.0015 = 0.0048 > 0.004 - 0.003.
    assert path(result) == [("tier1", "retry", False, "json"), ("tier1", "answer", False, "json")]
    assert fake_anthropic.requests_for(SONNET) == []
    assert (result.status, result.output, result.escalated) == ("needs_review", "{still broken", False)
    assert result.review_details == [{"rule": "spend_cap", "detail": "spend cap $0.004 reached: $0.003 spent, the "
                                      "next try on claude-sonnet-4-6 would cost about $0.0048"}]
    assert (result.cost_usd, result.baseline_cost_usd) == (Decimal("0.003"), Decimal("0.0045"))


@pytest.mark.parametrize("fields, reasons", [
    ({"external": True}, ["external"]),
    ({"risk": "high"}, ["high_risk"]),
    ({"review_reasons": ["sensitive_content"]}, ["sensitive_content"]),
    ({"review_reasons": ["high_risk"], "risk": "high"}, ["high_risk"]),
])
def test_high_risk_external_and_flagged_tasks_end_as_drafts(fake_anthropic, sdk_provider, fields, reasons):
    result = run(sdk_provider, job("summary", text="Meeting notes: we agreed to ship on Friday.", **fields))
    assert (result.status, result.needs_review, result.review_reasons) == ("needs_review", True, reasons)
    assert result.output == "Fake answer: Meeting notes: we agreed to ship on Friday."


def test_a_customer_reply_is_always_a_draft_in_review(fake_anthropic, sdk_provider):
    result = run(sdk_provider, job("support_reply", text="My parcel never arrived. Where is it?", external=True))
    assert result.status == "needs_review" and result.tier == "tier2"
    assert result.review_reasons == ["external", "task_type_review"]
    assert result.review_details[1] == {"rule": "task_type_review", "detail": "support_reply drafts always go to review"}
    assert result.output.startswith("Hello,") and path(result) == [("tier2", "answer", True, None)]


@pytest.mark.parametrize("failure", [Reply.overloaded(), Reply.server_error(), Reply.rate_limited(0),
                                     Reply.hang(3), Reply.malformed()])
def test_a_provider_failure_moves_to_the_next_tier_without_a_hint_when_the_policy_says_so(fake_anthropic, failure):
    provider = AnthropicProvider("k", fake_anthropic.url, timeout=0.3, max_retries=0)
    fake_anthropic.script(HAIKU, failure)
    fake_anthropic.script(SONNET, Reply.ok('{"label": "B2B", "confidence": 0.9}', 100, 10))
    result = run(provider, job("classification", labels=LABELS), NEXT_TIER_POLICY)
    assert path(result) == [("tier1", "retry", False, "provider"), ("tier2", "answer", True, None)]
    # A call that timed out may have been billed: booked at its upper bound (outcome unknown); a refused or broken one costs nothing.
    assert (result.attempts[0].cost_usd > 0) == (failure.hang_seconds > 0) and result.escalated
    assert fake_anthropic.requests_for(SONNET)[0].uncached_system == [
        "Allowed labels: B2B, B2C, Unsure\n\nAnswer with JSON only: no prose and no code fences."]
    assert result.cost_usd - result.attempts[0].cost_usd == Decimal("0.00045")  # 100*3 + 10*15


def test_an_open_circuit_is_skipped_with_the_reason_when_the_policy_says_next_tier(fake_anthropic, sdk_provider,
                                                                                   redis_conn):
    breaker = CircuitBreaker(redis_conn, failures=1, open_seconds=60)
    fake_anthropic.script(HAIKU, Reply.overloaded())
    first = run(sdk_provider, job("classification", labels=LABELS), NEXT_TIER_POLICY, breaker=breaker)
    assert first.attempts[0].reason.endswith("; the circuit for claude-haiku-4-5 is now open")
    second = run(sdk_provider, job("classification", labels=LABELS), NEXT_TIER_POLICY, breaker=breaker)
    assert len(fake_anthropic.requests_for(HAIKU)) == 1  # the second request never reached Haiku
    assert path(second) == [("tier2", "answer", True, None)] and second.escalated
    assert second.skipped[0]["tier"] == "tier1" and second.skipped[0]["model"] == HAIKU
    assert "circuit open after repeated failures" in second.skipped[0]["reason"]


def test_by_default_a_provider_outage_is_waited_out_on_the_same_tier_never_paid_on_a_dearer_one(
        fake_anthropic, sdk_provider, redis_conn):
    """529s for a while, then Haiku is back: the run waits (within its bound) and answers on tier1."""
    breaker = CircuitBreaker(redis_conn, failures=2, open_seconds=0.5)
    fake_anthropic.script(HAIKU, *[Reply.overloaded()] * 3, Reply.ok('{"label": "B2B", "confidence": 0.9}', 100, 10))
    result = run(sdk_provider, job("classification", labels=LABELS, wait_until=time.monotonic() + 20), breaker=breaker)
    assert result.status == "done" and result.tier == "tier1" and not result.escalated
    assert [a.gate for a in result.attempts] == ["provider"] * 3 + [None]
    assert fake_anthropic.requests_for(SONNET) == [] and fake_anthropic.requests_for(OPUS) == []


def test_an_outage_longer_than_the_bound_fails_naming_the_provider_state(fake_anthropic, sdk_provider, redis_conn):
    breaker = CircuitBreaker(redis_conn, failures=1, open_seconds=30)
    fake_anthropic.outage(60)
    started = time.monotonic()
    result = run(sdk_provider, job("classification", labels=LABELS, wait_until=started + 1.5), breaker=breaker)
    assert 1.0 < time.monotonic() - started < 5
    assert result.status == "failed" and result.escalated is False and fake_anthropic.requests_for(SONNET) == []
    assert "HTTP 529" in result.error and "waited as long as the request allows" in result.error


def test_fail_on_provider_error_fails_at_once(fake_anthropic, sdk_provider):
    policy = POLICY.model_copy(update={"tiers": {name: tier.model_copy(update={"on_provider_error": "fail"})
                                                 for name, tier in POLICY.tiers.items()}})
    fake_anthropic.script(HAIKU, Reply.server_error())
    result = run(sdk_provider, job("classification", labels=LABELS, wait_until=time.monotonic() + 30), policy)
    assert result.status == "failed" and len(result.attempts) == 1 and "HTTP 500" in result.error


def test_every_tier_failing_is_a_failed_result(fake_anthropic, sdk_provider):
    for model in (HAIKU, SONNET, OPUS):
        fake_anthropic.script(model, Reply.server_error())
    result = run(sdk_provider, job("summary", tier="tier1"), NEXT_TIER_POLICY)
    assert (result.status, result.output, result.tier, result.needs_review) == ("failed", None, None, False)
    assert result.error.startswith("the top tier (tier3) failed: claude-opus-4-7: HTTP 500 api_error")
    assert result.cost_usd == 0 and len(result.attempts) == 3


def test_self_check_rates_the_answer_on_the_same_tier_and_its_cost_counts(fake_anthropic, sdk_provider):
    task = POLICY.task_types["summary"].model_copy(update={"tier": "tier1", "gates": [
        GateSpec(name="non_empty"), GateSpec(name="self_check")]})
    fake_anthropic.script(HAIKU, Reply.ok("short", 100, 10),
                          Reply.ok('{"pass": false, "reason": "misses the decision"}', 150, 10))
    fake_anthropic.script(SONNET, Reply.ok("We ship Friday.", 120, 30), Reply.ok('{"pass": true, "reason": "ok"}', 200, 10))
    result = run(sdk_provider, job("summary", task=task, text="We agreed to ship on Friday."))
    assert path(result) == [("tier1", "retry", False, "self_check"), ("tier1", "self_check", False, "self_check"),
                            ("tier2", "answer", True, None), ("tier2", "self_check", True, "self_check")]
    assert result.attempts[0].reason == "self-check failed: misses the decision"
    # 0.00015 + 0.0002 + 0.00081 + 0.00075; only the kept answer (120 in, 30 out on Sonnet) is baseline.
    assert (result.cost_usd, result.baseline_cost_usd) == (Decimal("0.00191"), Decimal("0.00081"))
    check_call = fake_anthropic.requests_for(HAIKU)[1]
    assert "strict quality reviewer" in check_call.cached_system[0] and "short" in check_call.user_text


def test_prompt_caching_prices_cache_writes_and_reads(fake_anthropic, sdk_provider):
    answer = '{"label": "B2B", "confidence": 0.9}'
    fake_anthropic.script(HAIKU, Reply.ok(answer, 100, 50, cache_write_tokens=2000),
                          Reply.ok(answer, 100, 50, cache_read_tokens=2000))
    snippets = ["Brand rules: we say 'client', never 'customer'.", "Knowledge: B2B means a company buyer."]
    first = run(sdk_provider, job("classification", labels=LABELS, snippets=snippets))
    second = run(sdk_provider, job("classification", labels=LABELS, snippets=snippets))
    # write: 100 + 2000*1.25 + 50*5 = 2850 -> 0.00285; read: 100 + 2000*0.1 + 250 = 550 -> 0.00055.
    assert (first.cost_usd, second.cost_usd) == (Decimal("0.00285"), Decimal("0.00055"))
    # Baseline: all 2100 input tokens and 50 output on Sonnet without a cache: 0.0063 + 0.00075.
    assert first.baseline_cost_usd == second.baseline_cost_usd == Decimal("0.00705")
    attempt = second.to_dict()["attempts"][0]
    assert (attempt["cache_read_tokens"], attempt["cache_write_tokens"]) == (2000, 0)
    prefix = fake_anthropic.requests[0].cached_system[0]
    assert prefix.endswith("Knowledge: B2B means a company buyer.") and "Allowed labels" not in prefix


def test_a_request_output_schema_is_checked_and_the_output_is_an_object(fake_anthropic, sdk_provider):
    schema = {"type": "object", "required": ["email"], "properties": {"email": {"type": "string"}}}
    fake_anthropic.script(HAIKU, Reply.ok('{"email": 5}', 50, 5), Reply.ok('{"email": "a@b.co"}', 50, 5))
    result = run(sdk_provider, job("extraction", output_schema=schema, text="mail a@b.co"))
    assert path(result) == [("tier1", "retry", False, "schema"), ("tier1", "answer", True, None)]
    assert result.attempts[0].reason == "schema violation at email: 5 is not of type 'string'"
    assert result.output == {"email": "a@b.co"}
    assert '"required": ["email"]' in fake_anthropic.requests[0].uncached_system[0]


def test_messages_input_is_passed_through(fake_anthropic, sdk_provider):
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
                {"role": "user", "content": "Summarise our chat"}]
    result = run(sdk_provider, job("summary", text=None, messages=messages))
    assert fake_anthropic.requests[0].messages == messages and result.status == "done"


def test_dry_run_answers_without_calling_out_and_keeps_review_rules(fake_anthropic):
    dry = DryRunProvider(POLICY.prices)
    result = run(dry, job("support_reply", text="x" * 400, external=True))
    data = result.to_dict()
    assert data["dry_run"] is True and data["status"] == "needs_review"
    assert data["output"].startswith("DRY RUN: no model was called") and "tier2 -> claude-sonnet-4-6" in data["output"]
    assert data["cost_usd"] == 0 and data["baseline_cost_usd"] == 0 and data["estimated_cost_usd"] > 0
    assert fake_anthropic.requests == []
