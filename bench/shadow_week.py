"""A week of traffic with shadow comparisons: the per-class table and recommendation, checkable by hand.

Runs the real service in this process (the app, an RQ worker process with its scheduler, embedded
Redis, SQLite in a temporary directory) against the fake Messages API. A scripted "world" decides
every answer, so the expected disagreements are known from the input number alone:

  classification  tier1 and the baseline differ when n % 25 == 7        (label comparator)
  crm_cleanup     the baseline reads another country when n % 12 == 5   (field comparator; tier1's
                  "company N gmbh." and the baseline's "Company N GmbH" normalise equal)
  translation     every answer is shadowed; the judge finds the candidate worse when n % 8 == 3 and
                  answers prose (a malformed verdict: "not judged") when n % 20 == 11      (judge)
  faq_answer      judged worse when n % 9 == 4; its small monthly budget, reserved at an estimate
                  while comparisons are in flight, stops it after a few
  lead lists      /v1/classify lists of 10 leads; the baseline disputes lead n when n % 20 == 13
                  (list_classification, label comparator, a share of the rows)

A week's volume (per day: 40 classification, 12 crm_cleanup, 10 translation, 6 faq_answer as async
/v1/fallback requests, and 3 lead lists of 10 rows through /v1/classify) goes in; each task type
shadows a share of its answers at the rate below. Then a reviewer marks the month's human sample
(single classifications wrong where n % 25 == 7, the inputs the baseline disputes), and the script
prints ``tiergate shadow report``'s table with every listed comparison, and recounts each class's
agreement from that listing.

Run: .venv/bin/python bench/shadow_week.py [--days 7] [--seed 7]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HAIKU, SONNET, OPUS = "claude-haiku-4-5", "claude-sonnet-4-6", "claude-opus-4-7"
PER_DAY = {"classification": 40, "crm_cleanup": 12, "translation": 10, "faq_answer": 6}
SHADOW = {"classification": {"rate": 0.25, "monthly_budget_usd": 5},
          "crm_cleanup": {"rate": 0.5, "monthly_budget_usd": 5},
          "translation": {"rate": 1.0, "monthly_budget_usd": 5},
          "faq_answer": {"rate": 1.0, "monthly_budget_usd": "0.02"},
          "list_classification": {"rate": 0.3, "monthly_budget_usd": 5}}
LISTS_PER_DAY, ROWS_PER_LIST = 3, 10
FINISH_TIMEOUT_SECONDS = 600
NUMBER = re.compile(r"#(\d+)")


# -- the scripted world: what each model answers ----------------------------------------------------

def responder(body: dict) -> str:
    system = "\n".join(block.get("text", "") for block in body.get("system") or [])
    user = "\n".join(m["content"] for m in body["messages"] if isinstance(m.get("content"), str))
    n = int(NUMBER.search(user).group(1))
    baseline = body["model"] == SONNET
    if system.startswith("You compare two answers"):
        if "faq" in user.split("\n", 1)[0]:
            worse = n % 9 == 4
        else:
            if n % 20 == 11:
                return "Both look fine to me."  # not the agreed JSON: recorded as not judged
            worse = n % 8 == 3
        why = "A leaves out the delivery day" if "translation" in user.split("\n", 1)[0] else \
            "A drops the condition that items must be unused"
        return json.dumps({"same_or_better": not worse, "reason": why if worse else "same facts and tone"})
    if system.startswith("You label the rows"):
        rows = json.loads(user)
        return json.dumps([{"id": row["id"], "label": _lead_label(int(NUMBER.search(row["text"]).group(1)), baseline),
                            "confidence": 0.9, "reason": "buyer type"} for row in rows])
    if system.startswith("You classify"):
        label = "B2B" if n % 2 == 0 else "B2C"
        if baseline and n % 25 == 7:
            label = "B2C" if label == "B2B" else "B2B"
        return json.dumps({"label": label, "confidence": 0.93, "reason": "company size"})
    if system.startswith("You clean CRM records"):
        return json.dumps({"company": f"Company {n} GmbH" if baseline else f"company {n} gmbh.",
                           "first_name": "Jane", "last_name": "Doe", "email": f"jane@company{n}.de", "email_valid": True,
                           "phone": "+49301234567", "phone_valid": True,
                           "country": "AT" if baseline and n % 12 == 5 else "DE",
                           "likely_duplicate": False, "duplicate_of": None})
    if system.startswith("You translate"):
        return f"Order #{n} ships on Friday." if baseline else f"Order #{n} ships Friday."
    return f"Ticket #{n}: returns are accepted within 30 days." if baseline else f"Ticket #{n}: 30-day returns."


def _lead_label(n: int, baseline: bool) -> str:
    label = "B2B" if n % 3 else "B2C"
    return ("B2C" if label == "B2B" else "B2B") if baseline and n % 20 == 13 else label


def request_text(task_type: str, n: int) -> str:
    return {"classification": f"Lead #{n}: order of 40 units for the shop",
            "crm_cleanup": f"Record #{n}: jane doe, company {n} gmbh., jane@company{n}.de, +49 30 1234567",
            "translation": f"Translate into English: Bestellung #{n} wird am Freitag versandt.",
            "faq_answer": f"Ticket #{n}: what is your return policy?"}[task_type]


# -- the run ---------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=7, help="order of the week's requests")
    args = parser.parse_args()

    from app import create_app
    from app.config import load_settings
    from app.policy.loader import default_policy_text
    from tests.support.fake_anthropic import FakeAnthropic
    from tests.support.worker import WorkerProcess

    data_dir = Path(tempfile.mkdtemp(prefix="tiergate-shadow-week-"))
    policy = yaml.safe_load(default_policy_text())
    for task_type, spec in SHADOW.items():
        policy["task_types"][task_type]["shadow"] = spec
    policy["shadow_judge"] = {"model": OPUS}
    policy_path = data_dir / "policy.yaml"
    policy_path.write_text(yaml.safe_dump(policy, sort_keys=False), encoding="utf-8")
    os.environ["TIERGATE_POLICY"] = str(policy_path)  # the worker process reads the same policy

    with FakeAnthropic(responder) as fake:
        settings = load_settings(TIERGATE_DATA_DIR=data_dir, ANTHROPIC_API_KEY="bench-key", ANTHROPIC_BASE_URL=fake.url,
                                 TIERGATE_POLICY=str(policy_path), TIERGATE_PROVIDER_MAX_RETRIES=0)
        app = create_app(settings)
        worker = WorkerProcess(app.config["TIERGATE"], app.extensions["job_queue"].redis).start()
        try:
            run_week(app, args.days, args.seed)
            mark_human_sample(app)
            print_report(app)
        finally:
            worker.stop()
            app.extensions["store"].dispose()
    print(f"\n(data kept in {data_dir}; TIERGATE_DATA_DIR={data_dir} TIERGATE_POLICY={policy_path} "
          f"tiergate shadow report prints it again)")


def run_week(app, days: int, seed: int) -> None:
    from app.api.auth import create_key
    from app.store import Request, ShadowComparison
    from sqlalchemy import func, select

    with app.extensions["store"].session() as session:
        _key, plain = create_key(session, "shadow-week", ["fallback", "classify", "admin"])
    client = app.test_client()
    work = [(task_type, day * per_day + index) for day in range(days)
            for task_type, per_day in PER_DAY.items() for index in range(per_day)]
    random.Random(seed).shuffle(work)
    started = time.monotonic()
    for task_type, n in work:
        body = {"task_type": task_type, "text": request_text(task_type, n), "exec": "async"}
        if task_type == "classification":
            body["labels"] = ["B2B", "B2C"]
        response = client.post("/v1/fallback", json=body, headers={"X-API-Key": plain})
        assert response.status_code == 202, response.get_json()
    for n in range(days * LISTS_PER_DAY):  # short lists are answered at once, in the request
        items = [f"Lead #{n * ROWS_PER_LIST + row}: asks for a quote" for row in range(ROWS_PER_LIST)]
        response = client.post("/v1/classify", json={"items": items, "labels": ["B2B", "B2C"]},
                               headers={"X-API-Key": plain})
        assert response.status_code == 200, response.get_json()
    print(f"{len(work)} requests queued and {days * LISTS_PER_DAY} lists of {ROWS_PER_LIST} classified "
          f"({days} days of traffic); waiting for answers and shadow comparisons ...")
    store = app.extensions["store"]
    deadline = time.monotonic() + FINISH_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        with store.session() as session:
            unanswered = session.scalar(select(func.count()).select_from(Request)
                                        .where(Request.kind == "fallback", Request.result.is_(None)))
            queued = session.scalar(select(func.count()).select_from(ShadowComparison)
                                    .where(ShadowComparison.status == "queued"))
        if not unanswered and not queued:
            break
        time.sleep(1)
    else:
        raise SystemExit(f"not finished after {FINISH_TIMEOUT_SECONDS} s: {unanswered} unanswered, {queued} queued")
    print(f"done in {time.monotonic() - started:.0f} s")


def mark_human_sample(app) -> None:
    """Draw this month's audit sample and mark it the way a careful reviewer would in this world."""
    from app.reviews.service import DecisionInput, decide
    from app.sampling import draw_sample
    from app.store import Review, utcnow
    from sqlalchemy import select

    month = utcnow().strftime("%Y-%m")
    with app.extensions["store"].session() as session:
        draw_sample(session, month, seed=1)
        items = session.scalars(select(Review).where(Review.kind == "audit", Review.status == "pending")).all()
        for item in items:
            n = int(NUMBER.search(item.input_text or "#0").group(1))
            wrong = n % 25 == 7 and item.task_type == "classification"
            decide(session, item.id, DecisionInput(action="reject" if wrong else "approve", correct=not wrong,
                                                   minutes_spent=2.0 if wrong else 0.5), "reviewer@example.com")


def print_report(app) -> None:
    from app.cli.shadow import render
    from app.reports.period import Period
    from app.shadow.report import shadow_report

    from app.store import ShadowComparison
    from sqlalchemy import select

    with app.extensions["store"].session() as session:
        report = shadow_report(session, app.extensions["routing"].policy, Period())
        verdicts = session.execute(select(ShadowComparison.task_type, ShadowComparison.input_text,
                                          ShadowComparison.status)).all()
    print()
    print(render(report))
    print("\nRecount from the listing above (agree = compared - listed disagreements), and the world's rule:")
    for entry in report.classes:
        listed = len(entry.disagreements)
        print(f"  {entry.task_type:<20} compared {entry.compared:>3}, listed disagreements {listed:>2} -> "
              f"{entry.compared - listed}/{entry.compared} agree = {entry.agreement_pct}%; "
              f"{_check(entry.task_type, verdicts)}")


RULES = {"classification": lambda n: n % 25 == 7, "crm_cleanup": lambda n: n % 12 == 5,
         "translation": lambda n: n % 8 == 3, "faq_answer": lambda n: n % 9 == 4,
         "list_classification": lambda n: n % 20 == 13}


def _check(task_type: str, verdicts) -> str:
    """Every compared input the rule disputes is a disagreement, and no other input is."""
    wrong = [n for kind, text, status in verdicts if kind == task_type and status in ("agree", "disagree")
             for n in [int(NUMBER.search(text).group(1))] if RULES[task_type](n) != (status == "disagree")]
    return "every verdict matches the rule" if not wrong else f"MISMATCH on inputs {sorted(wrong)}"


if __name__ == "__main__":
    main()
