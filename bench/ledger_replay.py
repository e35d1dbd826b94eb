"""Does the simulator tell the truth? Run a log through Tiergate, export the ledger, replay it.

Starts the fake Messages API and ``tiergate up`` (``bench.harness.Stack``), sends the first N requests
of ``docs/examples/sme_month.jsonl`` through ``/v1/fallback``, then prints three savings:

  * the ledger's (``GET /v1/reports/savings``), what was really paid against the recorded baseline;
  * the simulator's replay of the per-request export (``GET /v1/reports/requests?format=csv``), which
    should match it within 1%;
  * the simulator's guess from the log alone (its own routing and cache model, no overhead), for scale.

Usage: ``python bench/ledger_replay.py [--requests 60]``.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import ROOT, Stack  # noqa: E402

LOG = ROOT / "docs" / "examples" / "sme_month.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=60)
    args = parser.parse_args()
    from app.policy import load_policy
    from app.simulate import read_log, simulate

    rows = [json.loads(line) for line in LOG.read_text().splitlines() if line.strip()][:args.requests]
    with Stack() as stack, tempfile.TemporaryDirectory() as folder:
        session = requests.Session()
        for row in rows:
            body = {"text": row["text"], **({"task_type": row["task_type"]} if row.get("task_type") else {})}
            response = session.post(f"{stack.url}/v1/fallback", json=body, headers=stack.headers)
            assert response.status_code == 200, response.text
        total = session.get(f"{stack.url}/v1/reports/savings", headers=stack.headers).json()["total"]
        export = Path(folder) / "ledger.csv"
        export.write_text(session.get(f"{stack.url}/v1/reports/requests", params={"format": "csv"},
                                      headers=stack.headers).text)
        log = Path(folder) / "log.jsonl"
        log.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
        policy = load_policy(None)
        replay, guess = simulate(read_log(export), policy), simulate(read_log(log), policy)
    ledger_cost, ledger_baseline = Decimal(repr(total["cost_usd"])), Decimal(repr(total["baseline_cost_usd"]))
    print(f"{len(rows)} requests of {LOG.name} through /v1/fallback (fake Messages API)")
    print(f"ledger              : cost ${ledger_cost:.6f}, baseline ${ledger_baseline:.6f}, saving {total['saving_pct']}%")
    print(f"replay of the export: cost ${replay.after:.6f}, baseline ${replay.before:.6f}, saving {replay.saving_pct}% "
          f"(overhead ${replay.levers.overhead:.6f}; cost off by "
          f"{abs(replay.after - ledger_cost) / ledger_cost * 100 if ledger_cost else 0:.3f}%)")
    print(f"simulator, log only : cost ${guess.after:.6f}, baseline ${guess.before:.6f}, saving {guess.saving_pct}%")


if __name__ == "__main__":
    main()
