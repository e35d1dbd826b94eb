"""Shadow comparisons end to end: /v1/fallback answers through a real RQ worker process, the baseline
re-run through the fake's Message Batches API, the comparison, the ledger line and the report."""
from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import select

from app import create_app
from app.cli import cli
from app.policy.loader import default_policy_text
from app.pricing import Usage
from app.store import Attempt, Request, Review, ShadowComparison
from app.web.context import runtime_of
from tests.support.fake_anthropic import Reply
from tests.support.worker import WorkerProcess
from tests.test_fallback_api import fallback_settings

HAIKU, SONNET, OPUS = "claude-haiku-4-5", "claude-sonnet-4-6", "claude-opus-4-7"
LABELS = ["B2B", "B2C"]
LEADS = [f"lead {n}: {company}, wholesale order for 40 units" for n, company in
         enumerate(["Acme GmbH", "Borg AG", "Cobalt Ltd", "Delta SA", "Echo BV", "Fox Inc", "Gamma Oy",
                    "Hotel Nord KG", "Iris SpA", "Juno AB"])]
DISPUTED = 7  # the baseline calls this lead B2C: the one disagreement
SHADOW_WAIT_SECONDS = 40.0


def write_policy(folder: Path, shadow: dict[str, dict], judge: dict | None = None) -> Path:
    """The default policy with the given task types' shadow settings (and judge) changed."""
    document = yaml.safe_load(default_policy_text())
    for task_type, spec in shadow.items():
        document["task_types"][task_type]["shadow"] = spec
    if judge:
        document["shadow_judge"] = judge
    path = folder / "policy.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def policy_path(tmp_path, request) -> Path:
    shadow, judge = getattr(request, "param", ({"classification": {"rate": 1.0, "monthly_budget_usd": 1}}, None))
    return write_policy(tmp_path, shadow, judge)


@pytest.fixture
def app(tmp_path, redis_url, database_url, redis_conn, fake_anthropic, policy_path):
    settings = fallback_settings(tmp_path, redis_url, database_url, fake_anthropic, TIERGATE_POLICY=str(policy_path))
    application = create_app(settings, migrate=False)
    application.config["TESTING"] = True
    yield application
    application.extensions["store"].dispose()


@pytest.fixture
def worker(app, redis_conn, policy_path, monkeypatch):
    monkeypatch.setenv("TIERGATE_POLICY", str(policy_path))  # the worker process reads the same policy file
    process = WorkerProcess(app.config["TIERGATE"], redis_conn).start()
    yield process
    process.stop()


def label_reply(body: dict) -> Reply:
    """Tier1 calls every lead B2B; the baseline agrees except on the disputed lead. Usage is exact."""
    user = "\n".join(m["content"] for m in body["messages"] if isinstance(m.get("content"), str))
    label = "B2C" if body["model"] == SONNET and f"lead {DISPUTED}:" in user else "B2B"
    return Reply.ok(json.dumps({"label": label, "confidence": 0.95, "reason": "company suffix"}), 1000, 20)


def comparisons(app) -> list[ShadowComparison]:
    with app.extensions["store"].session() as session:
        rows = list(session.scalars(select(ShadowComparison).order_by(ShadowComparison.created_at)))
        session.expunge_all()
        return rows


def wait_for_comparisons(app, count: int) -> list[ShadowComparison]:
    deadline = time.monotonic() + SHADOW_WAIT_SECONDS
    while time.monotonic() < deadline:
        rows = comparisons(app)
        if len(rows) >= count and all(row.status != "queued" for row in rows):
            return rows
        time.sleep(0.2)
    raise AssertionError(f"shadow comparisons not finished: {[(r.task_type, r.status) for r in comparisons(app)]}")


def classify(client, auth, text: str) -> tuple[dict, float]:
    response = client.post("/v1/fallback", headers=auth,
                           json={"task_type": "classification", "text": text, "labels": LABELS})
    assert response.status_code == 200, response.get_json()
    return response.get_json(), time.monotonic()


def cli_report(app, monkeypatch, policy_path) -> tuple[dict, str]:
    settings = app.config["TIERGATE"]
    for name, value in {"TIERGATE_DATA_DIR": str(settings.data_dir), "DATABASE_URL": settings.database_url,
                        "TIERGATE_POLICY": str(policy_path)}.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    as_json = runner.invoke(cli, ["shadow", "report", "--json"], catch_exceptions=False)
    table = runner.invoke(cli, ["shadow", "report"], catch_exceptions=False)
    assert as_json.exit_code == 0 and table.exit_code == 0, as_json.output + table.output
    return json.loads(as_json.output), table.output


def test_classification_at_full_rate_reports_ninety_percent_over_ten_and_lists_the_disagreement(
        client, auth, app, worker, fake_anthropic, monkeypatch, policy_path):
    fake_anthropic.responder = label_reply
    answers = [classify(client, auth, lead)[0] for lead in LEADS]
    assert [answer["output"]["label"] for answer in answers] == ["B2B"] * 10

    rows = wait_for_comparisons(app, 10)
    assert sorted(row.status for row in rows) == ["agree"] * 9 + ["disagree"]
    # Every baseline call went through the batch API, none as a normal call.
    batched = [r for r in fake_anthropic.requests if r.path == "/v1/messages/batches"]
    assert len(batched) == 10 and {r.model for r in batched} == {SONNET}
    assert not [r for r in fake_anthropic.requests if r.path == "/v1/messages" and r.model == SONNET]

    report, table = cli_report(app, monkeypatch, policy_path)
    entry = next(item for item in report["classes"] if item["task_type"] == "classification")
    assert (entry["compared"], entry["agreed"], entry["agreement_pct"]) == (10, 9, 90.0)
    assert entry["agreement_interval_pct"] == [59.6, 98.2]  # Wilson 95% for 9 of 10
    [disagreement] = entry["disagreements"]
    assert disagreement["input"] == LEADS[DISPUTED]
    assert json.loads(disagreement["answer"])["label"] == "B2B"
    assert json.loads(disagreement["baseline_answer"])["label"] == "B2C"
    assert disagreement["reason"] == "label 'B2B' vs baseline 'B2C'"
    assert entry["shadow_recommendation"] == "adjust_prompt"  # 10% disagreement: the adjust band
    assert "classification" in table and "90.0%" in table and "59.6-98.2%" in table and LEADS[DISPUTED] in table

    # The shadow ledger: one request of kind shadow per comparison, its attempt at the batch price.
    prices = runtime_of(app).policy().prices
    with app.extensions["store"].session() as session:
        shadow_attempts = session.scalars(select(Attempt).where(Attempt.purpose == "shadow")).all()
        kinds = session.scalars(select(Request.kind)).all()
    assert len(shadow_attempts) == 10 and all(a.batch and a.model == SONNET for a in shadow_attempts)
    one = prices.cost(SONNET, Usage(1000, 20), batch=True)
    assert all(a.cost_usd == one for a in shadow_attempts) and one == Decimal("0.00165")
    assert sorted(kinds) == ["fallback"] * 10 + ["shadow"] * 10

    # The savings report: shadow spend on its own line, the saving untouched by it.
    savings = client.get("/v1/reports/savings", headers=auth).get_json()
    assert savings["total"]["requests"] == 10
    assert Decimal(repr(savings["total"]["cost_usd"])) == sum(Decimal(repr(a["cost_usd"])) for a in answers)
    assert savings["shadow"] == {"comparisons": 10, "shadow_cost_usd": 0.0165, "judge_cost_usd": 0.0,
                                 "cost_usd": 0.0165}
    quality = client.get("/v1/reports/quality", headers=auth).get_json()["classes"]
    assert [(entry["task_type"], entry["requests"]) for entry in quality] == [("classification", 10)]

    # A disagreement goes to the review queue as an audit item outside the monthly sample.
    result = CliRunner().invoke(cli, ["shadow", "report", "--send-disagreements"], catch_exceptions=False)
    assert "sent 1 disagreement(s)" in result.output
    with app.extensions["store"].session() as session:
        [review] = session.scalars(select(Review)).all()
        assert (review.kind, review.status, review.audit_month) == ("audit", "pending", None)
        assert review.input_text == LEADS[DISPUTED] and "B2C" in review.reasons[0]["detail"]


@pytest.mark.parametrize("policy_path", [({"classification": {"rate": 1.0, "monthly_budget_usd": "0.004"}}, None)],
                         indirect=True)
def test_shadow_calls_never_change_the_answer_or_its_timing_and_stop_when_the_budget_is_spent(
        client, auth, app, worker, fake_anthropic):
    fake_anthropic.responder = label_reply
    delivered = [classify(client, auth, lead) for lead in LEADS[5:9]]
    rows = wait_for_comparisons(app, 2)
    time.sleep(3)  # longer than the shadow delay: a third comparison would have started by now
    # 0.004 USD holds two comparisons at 0.00165 each; the third would overshoot, so it never starts.
    assert len(comparisons(app)) == 2 and sum(row.spent_usd for row in rows) == Decimal("0.0033")
    batched = [r for r in fake_anthropic.requests if r.path == "/v1/messages/batches"]
    assert len(batched) == 2

    with app.extensions["store"].session() as session:
        stored = {row.id: row.result for row in session.scalars(select(Request).where(Request.kind == "fallback"))}
    for (answer, received_at), lead in zip(delivered, LEADS[5:9]):
        # The workflow's answer is tier1's, even where the baseline disagreed (lead 7), and it is the stored one.
        assert answer["output"]["label"] == "B2B" and answer["model"] == HAIKU
        assert stored[answer["request_id"]] == answer
        shadow_calls = [r for r in batched if lead in r.user_text]
        assert all(call.at > received_at for call in shadow_calls)
    # Only the first two requests were shadowed (sampled in order of delivery), each after its answer arrived.
    assert sorted(r.user_text for r in batched) == LEADS[5:7]


def judged_reply(body: dict) -> Reply:
    """Haiku and Sonnet translate; Opus judges: a reasoned verdict on one input, prose on the other."""
    user = "\n".join(m["content"] for m in body["messages"] if isinstance(m.get("content"), str))
    if body["model"] == OPUS:
        if "Lieferung" in user:
            return Reply.ok(json.dumps({"same_or_better": False, "reason": "A drops the formal address"}), 900, 30)
        return Reply.ok("Both answers look about the same to me.", 900, 12)
    if "Lieferung" in user:
        return Reply.ok("Your delivery arrives Friday." if body["model"] == HAIKU else
                        "Your delivery will arrive on Friday.", 200, 10)
    return Reply.ok("Thank you for your order.", 200, 8)


@pytest.mark.parametrize("policy_path", [({"translation": {"rate": 1.0, "monthly_budget_usd": 1}},
                                          {"model": OPUS})], indirect=True)
def test_free_text_is_judged_with_its_cost_on_the_shadow_line_and_a_malformed_verdict_is_not_judged(
        client, auth, app, worker, fake_anthropic, monkeypatch, policy_path):
    fake_anthropic.responder = judged_reply
    for text in ("Translate into English: Ihre Lieferung kommt am Freitag.",
                 "Translate into English: Danke für Ihre Bestellung."):
        response = client.post("/v1/fallback", headers=auth, json={"task_type": "translation", "text": text})
        assert response.status_code == 200 and response.get_json()["model"] == HAIKU, response.get_json()
    rows = {row.input_text: row for row in wait_for_comparisons(app, 2)}
    judged, unjudged = rows["Translate into English: Ihre Lieferung kommt am Freitag."], \
        rows["Translate into English: Danke für Ihre Bestellung."]
    assert (judged.status, judged.reason, judged.judge_model) == ("disagree", "A drops the formal address", OPUS)
    assert unjudged.status == "not_judged" and "not JSON" in unjudged.reason  # never counted as agreement
    judge_calls = fake_anthropic.requests_for(OPUS)
    assert len(judge_calls) == 2 and all(r.path == "/v1/messages" for r in judge_calls)
    assert "Answer A (candidate)" in judge_calls[0].user_text  # the rubric is the system prompt (too short to cache)
    assert any("same_or_better" in block["text"] for block in judge_calls[0].system)

    prices = runtime_of(app).policy().prices
    with app.extensions["store"].session() as session:
        judge_attempts = session.scalars(select(Attempt).where(Attempt.purpose == "judge")).all()
    assert len(judge_attempts) == 2 and not any(a.batch for a in judge_attempts)
    judge_cost = sum((a.cost_usd for a in judge_attempts), Decimal(0))
    assert judge_cost == sum((prices.cost(OPUS, Usage(a.input_tokens, a.output_tokens, a.cache_write_tokens,
                                                      a.cache_read_tokens)) for a in judge_attempts), Decimal(0))
    assert judge_cost > 0

    report, _table = cli_report(app, monkeypatch, policy_path)
    entry = next(item for item in report["classes"] if item["task_type"] == "translation")
    assert (entry["comparator"], entry["compared"], entry["agreed"], entry["not_judged"]) == ("judge", 1, 0, 1)
    assert entry["agreement_pct"] == 0.0 and entry["not_judged_items"][0]["verdict"] == "not_judged"
    assert Decimal(repr(report["spend"]["judge_cost_usd"])) == judge_cost
    savings = client.get("/v1/reports/savings", headers=auth).get_json()
    assert Decimal(repr(savings["shadow"]["judge_cost_usd"])) == judge_cost
    assert savings["total"]["requests"] == 2


def test_a_failed_baseline_call_is_recorded_as_failed_and_never_counted(client, auth, app, worker, fake_anthropic,
                                                                        monkeypatch, policy_path):
    fake_anthropic.responder = label_reply
    fake_anthropic.script(SONNET, Reply.server_error())  # the batch entry of the shadow call errors
    answer, _at = classify(client, auth, LEADS[0])
    [row] = wait_for_comparisons(app, 1)
    assert row.status == "failed" and "baseline call failed" in row.reason and row.spent_usd == 0
    report, _table = cli_report(app, monkeypatch, policy_path)
    entry = next(item for item in report["classes"] if item["task_type"] == "classification")
    assert (entry["compared"], entry["failed"], entry["agreement_pct"]) == (0, 1, None)
    assert answer["output"]["label"] == "B2B"


def list_reply(body: dict) -> Reply:
    """/v1/classify chunks: every row B2B on tier1; the baseline, asked row by row, disputes lead 7."""
    rows = json.loads(body["messages"][0]["content"])
    labels = [{"id": row["id"], "label": "B2C" if body["model"] == SONNET and f"lead {DISPUTED}:" in row["text"]
               else "B2B", "confidence": 0.95, "reason": "company suffix"} for row in rows]
    return Reply.ok(json.dumps(labels), 100 * len(rows), 15 * len(rows))


@pytest.mark.parametrize("policy_path", [({"list_classification": {"rate": 1.0, "monthly_budget_usd": 1}}, None)],
                         indirect=True)
def test_a_classify_list_is_shadowed_row_by_row_in_one_batch(client, auth, app, worker, fake_anthropic, monkeypatch,
                                                              policy_path):
    fake_anthropic.responder = list_reply
    response = client.post("/v1/classify", headers=auth, json={"items": LEADS, "labels": LABELS})
    assert response.status_code == 200, response.get_json()
    assert [row["label"] for row in response.get_json()["results"]] == ["B2B"] * 10

    rows = wait_for_comparisons(app, 10)
    assert sorted(row.item_index for row in rows) == list(range(10))
    shadow_calls = [r for r in fake_anthropic.requests if r.path == "/v1/messages/batches"]
    assert len(shadow_calls) == 10 and {r.model for r in shadow_calls} == {SONNET}
    assert len({row.batch_id for row in rows}) == 1  # one batch for the list's drawn rows
    report, _table = cli_report(app, monkeypatch, policy_path)
    entry = next(item for item in report["classes"] if item["task_type"] == "list_classification")
    assert (entry["compared"], entry["agreed"], entry["agreement_pct"]) == (10, 9, 90.0)
    [disagreement] = entry["disagreements"]
    assert disagreement["input"] == LEADS[DISPUTED] and disagreement["reason"] == "label 'B2B' vs baseline 'B2C'"


def test_a_callback_is_delivered_before_its_shadow_call_starts(client, auth, app, worker, fake_anthropic):
    from tests.support.receiver import CallbackReceiver

    fake_anthropic.responder = label_reply
    receiver = CallbackReceiver()
    try:
        response = client.post("/v1/fallback", headers=auth, json={
            "task_type": "classification", "text": LEADS[DISPUTED], "labels": LABELS, "exec": "async",
            "callback_url": receiver.url + "/hook"})
        assert response.status_code == 202
        [delivery] = receiver.wait(1)
        delivered_at = time.monotonic()
        # The workflow has its answer, and the baseline has not been asked yet.
        assert not [r for r in fake_anthropic.requests if r.path == "/v1/messages/batches"]
        assert json.loads(delivery.body)["output"]["label"] == "B2B"
        [row] = wait_for_comparisons(app, 1)
    finally:
        receiver.close()
    [shadow_call] = [r for r in fake_anthropic.requests if r.path == "/v1/messages/batches"]
    assert shadow_call.at > delivered_at and row.status == "disagree"


@pytest.mark.parametrize("policy_path", [({"translation": {"rate": 1.0, "monthly_budget_usd": 1}},
                                          {"model": OPUS})], indirect=True)
def test_shadow_and_judge_calls_hold_and_book_on_the_budgets_of_the_request_they_shadow(
        client, app, worker, fake_anthropic):
    from app.store.models import Budget, BudgetHold
    from tests.test_budgets import budget_row, ledger_cost, new_key

    fake_anthropic.responder = judged_reply
    key_id, headers = new_key(app, Decimal("1"))
    response = client.post("/v1/fallback", headers=headers, json={
        "task_type": "translation", "text": "Translate into English: Ihre Lieferung kommt am Freitag."})
    assert response.status_code == 200
    (row,) = wait_for_comparisons(app, 1)
    assert row.status == "disagree" and row.shadow_cost_usd > 0 and row.judge_cost_usd > 0
    # The budget holds every call made for the key: the answer, the baseline (batch price) and the judge.
    spent = Decimal(str(budget_row(app, key_id).spent_usd)).quantize(Decimal("1e-8"))
    answer_cost = Decimal(repr(response.get_json()["cost_usd"]))
    assert spent == ledger_cost(app, Request.api_key_id == key_id) == (
        answer_cost + row.shadow_cost_usd + row.judge_cost_usd).quantize(Decimal("1e-8"))
    with app.extensions["store"].session() as session:
        assert session.scalar(select(Budget.reserved_usd).where(Budget.subject == str(key_id))) == 0
        assert session.scalars(select(BudgetHold)).all() == []
