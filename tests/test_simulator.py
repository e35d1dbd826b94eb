"""The simulator: the reference workload's figures against a calculation written out by hand, the
cache, batch and escalation rules, log errors, and the ``tiergate simulate`` command."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import cli
from app.policy import load_policy
from app.pricing import Usage
from app.simulate import LogError, LogRow, read_log, simulate, summary

D = Decimal
POLICY = load_policy(None)
ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "examples" / "reference_workload.csv"
M = D(1_000_000)


def test_reference_log_is_the_workload_of_product_section_10():
    rows = read_log(REFERENCE)
    tokens = sum(row.input_tokens + row.output_tokens for row in rows)
    assert tokens == 5_000_000
    by_tier: dict[str, int] = {}
    for row in rows:
        tier = POLICY.task_types[row.task_type].tier
        by_tier[tier] = by_tier.get(tier, 0) + row.input_tokens + row.output_tokens
    assert by_tier == {"tier1": 3_500_000, "tier2": 1_250_000, "tier3": 250_000}  # 70 / 25 / 5
    assert sum(row.input_tokens for row in rows) == 4 * sum(row.output_tokens for row in rows)  # 4:1
    assert sum(row.cached_prefix_tokens for row in rows) * 10 == sum(row.input_tokens for row in rows) * 6  # 60%
    tier1_bulk = sum(row.input_tokens + row.output_tokens for row in rows
                     if POLICY.task_types[row.task_type].tier == "tier1" and row.urgent is False)
    assert tier1_bulk * 2 == by_tier["tier1"]  # half of the tier-1 work can wait for the batch API
    assert {row.model for row in rows} == {"claude-sonnet-4-6"}


def test_reference_workload_figures_match_the_hand_calculation():
    """Prices per million tokens: Haiku 1/5, Sonnet 3/15, Opus 5/25; write 1.25x, read 0.1x, batch 0.5x.

    Before, all on Sonnet: 4M input x 3 + 1M output x 15 = 27.00.
    Routing alone (list prices): tier1 2.8M x 1 + 0.7M x 5 = 6.30; tier2 1.0M x 3 + 0.25M x 15 = 6.75;
    tier3 0.2M x 5 + 0.05M x 25 = 2.25; total 15.30, saving 11.70 = 43.33% (the product's "about 43%").
    With the cache, per request (tokens x price):
      Haiku   in 7,000 = 2,800 plain + 4,200 prefix, out 1,750:
              warm 2,800 + 420 + 8,750 = 11,970; first use 2,800 + 5,250 + 8,750 = 16,800
      Sonnet  in 4,000 = 1,600 + 2,400, out 1,000: warm 4,800 + 720 + 15,000 = 20,520; first 28,800
      Opus    same tokens: warm 8,000 + 1,200 + 25,000 = 34,200; first 8,000 + 15,000 + 25,000 = 48,000
    One first use per prefix (task type, batch or not): 4 on Haiku, 4 on Sonnet, 2 on Opus.
      tier1 interactive (extraction, translation; 200): 198 x 11,970 + 2 x 16,800 = 2,403,660 -> 2.40366
      tier1 batch (list_classification, format_rewrite; 200): the same at half price     -> 1.20183
      tier2 (250): 246 x 20,520 + 4 x 28,800 = 5,163,120                                   -> 5.16312
      tier3 (50):  48 x 34,200 + 2 x 48,000 = 1,737,600                                    -> 1.73760
    After 10.50621; saving 16.49379 = 61.09%
      = routing 11.70 + caching (15.30 - 2 x 2.40366 - 5.16312 - 1.7376 = 3.59196) + batch 1.20183.
    """
    result = simulate(read_log(REFERENCE), POLICY)
    assert result.before == D("27")
    assert result.after == D("10.50621")
    assert {tier: figures.after for tier, figures in result.by_tier.items()} == {
        "tier1": D("3.60549"), "tier2": D("5.16312"), "tier3": D("1.7376")}
    assert result.saving == D("16.49379") and result.saving_pct == D("61.09")
    levers = result.levers
    assert (levers.routing, levers.caching, levers.batch, levers.overhead) == (D("11.7"), D("3.59196"), D("1.20183"), 0)
    assert levers.saving == result.saving
    assert result.lever_pct(levers.routing) == D("43.33")
    # The routing-only figure is the blended-price formula of docs/architecture.md, "Performance targets".
    blended = (D("0.7") * D("1.8") + D("0.25") * D("5.4") + D("0.05") * D("9")) / D("5.4")
    assert result.lever_pct(levers.routing) == ((1 - blended) * 100).quantize(D("0.01"))


def test_figures_reconcile_with_the_cost_function_to_the_cent():
    rows = read_log(REFERENCE)
    result = simulate(rows, POLICY)
    before = sum(POLICY.prices.plain_cost(row.model, Usage(row.input_tokens, row.output_tokens)) for row in rows)
    assert before == result.before
    document = summary(result)
    assert document["before_usd"] - document["after_usd"] == document["saving_usd"]
    attribution = document["attribution"]
    assert document["saving_usd"] == (attribution["routing_usd"] + attribution["caching_usd"] + attribution["batch_usd"]
                                      - attribution["overhead_usd"])
    assert sum(tier["after_usd"] for tier in document["by_tier"].values()) == document["after_usd"]
    assert sum(tier["before_usd"] for tier in document["by_tier"].values()) == document["before_usd"]


def test_escalation_overhead_is_counted_and_still_reconciles():
    """At 10%, every tenth request of a class on tier1 or tier2 pays its cheap try and is answered a tier up."""
    rows = read_log(REFERENCE)
    plain = simulate(rows, POLICY)
    escalating = simulate(rows, POLICY, escalation_rate=D("0.1"))
    assert escalating.escalated == 40 + 24  # 10 per tier-1 class (4 x 100); 6 of 63/63 and 6 of 62/62 on tier2
    assert escalating.levers.overhead > 0 and escalating.after > plain.after
    assert escalating.levers.saving == escalating.saving
    assert escalating.by_tier["tier2"].escalated_in == 40 and escalating.by_tier["tier3"].escalated_in == 24


def row(**fields) -> LogRow:
    return LogRow(**{"line": 1, "input_tokens": 1000, "output_tokens": 200, **fields})


def test_rules_route_by_text_and_apply_the_upgrade_rules():
    result = simulate([row(text="Classify this lead into B2B or B2C"),
                       row(text="Classify this refund request by urgency"),  # money -> at least tier2
                       row(task_type="classification", input_tokens=9000)], POLICY)  # > 8,000 -> tier2
    assert {tier: figures.requests for tier, figures in result.by_tier.items()} == {"tier1": 1, "tier2": 2, "tier3": 0}


def test_cache_needs_the_minimum_prefix_and_expires_after_five_minutes():
    small = simulate([row(task_type="classification", cached_prefix_tokens=900)] * 3, POLICY)
    assert small.by_tier["tier1"].cache_read_tokens == 0 and small.levers.caching == 0  # below Haiku's floor
    short = simulate([row(task_type="summary", input_tokens=3000, cached_prefix_tokens=2000)] * 3, POLICY)
    assert short.by_tier["tier2"].cache_read_tokens == 0  # below Sonnet 4.6's 2,048-token floor
    timed = [row(task_type="summary", input_tokens=3000, cached_prefix_tokens=2100,
                 timestamp=datetime_at(minute)) for minute in (0, 4, 8, 20)]
    result = simulate(timed, POLICY)
    # 0: write; 4: read (4 min); 8: read (4 min after the last use); 20: 12 min later, cold -> write.
    assert (result.by_tier["tier2"].cache_write_tokens, result.by_tier["tier2"].cache_read_tokens) == (4200, 4200)


def datetime_at(minute: int) -> datetime:
    return datetime(2026, 5, 4, 9, minute, tzinfo=timezone.utc)


def test_non_urgent_goes_to_batch_and_before_uses_the_logged_model():
    result = simulate([row(task_type="classification", urgent=False, model="claude-opus-4-7")], POLICY)
    assert result.before == (1000 * D(5) + 200 * D(25)) / M
    assert result.after == (1000 * D(1) + 200 * D(5)) / M / 2
    assert result.levers.batch == result.after and result.by_tier["tier1"].batch_requests == 1


@pytest.mark.parametrize("content, message", [
    ("task_type,input_tokens,output_tokens\nclassification,abc,10\n", "input_tokens must be a whole number"),
    ("task_type,input_tokens,output_tokens\n,10,10\n", "give task_type or text"),
    ("task_type,input_tokens\nclassification,10\n", "header lacks output_tokens"),
    ("task_type,input_tokens,output_tokens,cached_prefix_tokens\nsummary,10,5,20\n", "cannot exceed input_tokens"),
    ("task_type,input_tokens,output_tokens,urgent\nsummary,10,5,later\n", "urgent must be true or false"),
])
def test_log_errors_name_the_line(tmp_path, content, message):
    path = tmp_path / "log.csv"
    path.write_text(content)
    with pytest.raises(LogError, match=message) as caught:
        read_log(path)
    assert f"{path}:" in str(caught.value)


def test_jsonl_log(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text('{"task_type": "summary", "input_tokens": 100, "output_tokens": 50, "urgent": true}\n\n'
                    '{"text": "translate this into German", "input_tokens": 10, "output_tokens": 10}\n')
    rows = read_log(path)
    assert [(item.line, item.task_type, item.urgent) for item in rows] == [(1, "summary", True), (3, None, None)]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"task_type": "summary", "input_tokens": 1, "output_tokens": 1}\n[1, 2]\n')
    with pytest.raises(LogError, match=r"bad.jsonl:2: each line must be a JSON object"):
        read_log(bad)


def test_cli_prints_the_table_json_and_html(tmp_path):
    runner = CliRunner()
    out = runner.invoke(cli, ["simulate", str(REFERENCE), "--setup-cost", "100"])
    assert out.exit_code == 0, out.output
    assert "tier1  claude-haiku-4-5" in out.output and "61.09%" in out.output
    assert "payback of a 100.00 USD set-up: 6.06 months" in out.output
    printed = runner.invoke(cli, ["simulate", str(REFERENCE), "--json", "--html", str(tmp_path / "sim.html")])
    assert printed.exit_code == 0, printed.output
    document = json.loads(printed.output)
    assert {"before_usd", "after_usd", "saving_pct", "by_tier", "attribution"} <= document.keys()
    assert (document["before_usd"], document["after_usd"], document["saving_pct"]) == (27, 10.50621, 61.09)
    assert document["attribution"] == {"routing_usd": 11.7, "caching_usd": 3.59196, "batch_usd": 1.20183,
                                       "overhead_usd": 0}
    page = (tmp_path / "sim.html").read_text()
    assert "<svg" in page and "61.09%" in page
    assert "http://" not in page.replace("http://www.w3.org", "") and "https://" not in page  # nothing remote


def test_cli_reports_a_bad_log_without_a_traceback(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("task_type,input_tokens,output_tokens,model\nsummary,10,5,gpt-9\n")
    out = CliRunner().invoke(cli, ["simulate", str(path)])
    assert out.exit_code == 2 and "gpt-9" in out.output and "Traceback" not in out.output


def test_docs_show_the_figures_the_simulator_prints():
    docs = (ROOT / "docs" / "savings.md").read_text()
    rows = read_log(REFERENCE)
    for rate, after, pct in ((0, "$10.51", "61.1%"), (D("0.01"), "$10.89", "59.7%"), (D("0.05"), "$11.69", "56.7%"),
                             (D("0.1"), "$12.78", "52.7%"), (D("0.2"), "$15.03", "44.3%")):
        result = simulate(rows, POLICY, escalation_rate=rate)
        assert f"${result.after.quantize(D('0.01'))}" == after and f"{result.saving_pct.quantize(D('0.1'))}%" == pct
        assert after in docs and pct in docs


def test_the_saving_without_caching_is_reported_beside_the_total():
    rows = [row(task_type="classification", input_tokens=5000, output_tokens=500, cached_prefix_tokens=4200)] * 2
    document = summary(simulate(rows, POLICY))
    # Haiku: write 4,200 x $1.25 + read 4,200 x $0.10 + 2 x (800 x $1 + 500 x $5), per million tokens;
    # without the cache: 2 x (5,000 x $1 + 500 x $5).
    assert document["after_usd"] == Decimal("0.012270")
    assert document["without_caching"]["after_usd"] == Decimal("0.015000")
    assert document["without_caching"]["saving_usd"] == document["before_usd"] - Decimal("0.015000")
