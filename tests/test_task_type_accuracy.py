"""Task-type inference from text (rules mode) measured on a labelled set written for this purpose.

The set (tests/data/task_types_labelled.jsonl) holds requests as SME users phrase them. Most rows were
written alongside the default keywords, so they measure coverage; rows marked ``held_out`` were written
afterwards without tuning the keywords to them, and show what to expect on unseen phrasing. The test
prints both figures and the misses, and guards floors so a policy edit that breaks detection fails.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from app.policy import load_policy
from app.routing import RulesRouter

LABELLED = Path(__file__).parent / "data" / "task_types_labelled.jsonl"
ACCURACY_FLOOR = 0.80
# Unseen phrasing mostly misses every keyword: such a request is unplaced and lands on tier2 (the safe
# middle), which costs money but not quality. What must stay rare is a *wrong* placement.
HELD_OUT_MAX_WRONG_RATE = 0.2


def test_rules_task_type_accuracy_on_labelled_set():
    router = RulesRouter(load_policy())
    rows = [json.loads(line) for line in LABELLED.read_text().splitlines() if line.strip()]
    misses, unknown, held_out_wrong = [], 0, 0
    for row in rows:
        detected = router.detect_task_type(row["text"])
        if detected.task_type != row["task_type"]:
            misses.append((row["task_type"], detected.task_type, row["text"][:60]))
            unknown += detected.task_type == "unknown"
            held_out_wrong += bool(row.get("held_out")) and detected.task_type != "unknown"
    held_out = sum(bool(row.get("held_out")) for row in rows)
    accuracy = 1 - len(misses) / len(rows)
    held_out_accuracy = sum(1 for row in rows if row.get("held_out")
                            and router.detect_task_type(row["text"]).task_type == row["task_type"]) / held_out
    print(f"\ntask-type accuracy: {accuracy:.1%} on {len(rows)} labelled requests "
          f"({held_out_accuracy:.1%} on the {held_out} held-out ones); "
          f"{unknown} unplaced (-> tier2), {len(misses) - unknown} wrong")
    for expected, got, text in misses:
        print(f"  expected {expected:<20} got {got:<20} {text}")
    assert len(Counter(row["task_type"] for row in rows)) >= 12
    assert accuracy >= ACCURACY_FLOOR
    assert held_out_wrong / held_out <= HELD_OUT_MAX_WRONG_RATE, "see the misses printed above"
