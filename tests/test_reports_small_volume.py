"""The /reports page at small-business volume: sub-cent amounts, negative savings, suggestions, workflows."""
from __future__ import annotations

import re
from decimal import Decimal

from app.reports import parse_period, savings_report
from app.routing.state import current_policy
from tests.test_reports_ledger import POLICY, add_request, at, call
from tests.test_reports_page import log_in


def build_small_ledger(session) -> None:
    """Three cheap classifications (workflow "leads") and two escalated extractions that cost more than the baseline."""
    haiku, sonnet, opus = (POLICY.model_for(tier) for tier in ("tier1", "tier2", "tier3"))
    for day in ("05-03", "05-04", "05-05"):
        add_request(session, at(day), "classification", None, "leads", [call("answer", "tier1", haiku, 600, 40)])
    for day in ("05-06", "05-07"):
        add_request(session, at(day), "extraction", None, "crm-cleanup", [
            call("retry", "tier1", haiku, 900, 200, ok=False, gate="json"),
            call("escalation", "tier2", sonnet, 900, 200, ok=False, gate="json"),
            call("answer", "tier3", opus, 900, 200)], escalated=True)


def test_sub_cent_amounts_negative_savings_and_why_there_is_no_suggestion(app, client):
    with app.extensions["store"].session() as session:
        build_small_ledger(session)
        with app.app_context():
            report = savings_report(session, current_policy(), parse_period("2026-05", "2026-05"), "task_type")
    by_class = {group.key: group for group in report.groups}
    assert by_class["extraction"].baseline - by_class["extraction"].cost < 0  # the ledger has a negative saving
    assert report.total.cost < Decimal("0.05")

    log_in(app, client)
    page = client.get("/reports?from=2026-05&to=2026-05").get_data(as_text=True)

    total_cost = re.search(r'data-testid="total-cost">([^<]+)<', page).group(1)
    assert re.fullmatch(r"\$0\.\d{4}", total_cost) and total_cost != "$0.0000", total_cost
    assert total_cost == f"${report.total.cost.quantize(Decimal('0.0001'))}"
    assert "per 1,000 requests" in page
    # The extraction class lost money: its saving cell is red.
    extraction_row = re.search(r"<td>extraction</td>.*?</tr>", page, re.S).group(0)
    assert re.search(r'<td class="num neg">−\$0\.\d{4}', extraction_row), extraction_row
    # Two requests at 100% escalation: the page says why nothing is suggested yet.
    waiting = re.search(r'data-testid="suggestions-waiting">(.*?)</p>', page, re.S).group(1)
    assert "extraction" in waiting and "100% escalated" in waiting and "needs 5 requests" in waiting
    assert "No class escalates on more than 60%" not in page
    # Per workflow.
    workflows = re.search(r'data-testid="workflows">(.*?)</section>', page, re.S).group(1)
    assert "leads" in workflows and "crm-cleanup" in workflows
