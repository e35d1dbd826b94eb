"""Build the compact file of general requests: code tasks (MBPP) and, as an outside check, open questions (TruthfulQA).

    python -m training.general_data --mbpp PATH/mbpp.jsonl --truthfulqa PATH/TruthfulQA.csv

The task-type head saw code and open questions almost only as SME templates and exam questions, and
called most everyday code requests and open questions something else. These two human-written
sources are phrased as people ask:

- MBPP, "Mostly Basic Python Problems" (Austin et al. 2021, google-research/google-research
  ``mbpp/mbpp.jsonl``), CC-BY-4.0: 974 crowd-sourced programming tasks -> ``code``. Kept: the task
  description, and for every other task its first test, as a user pastes an example. The paper's
  split is kept: task ids 1-10 and 511-974 train, 11-510 are held out (``split``).
- TruthfulQA (Lin et al. 2021, sylinrl/TruthfulQA ``TruthfulQA.csv``), Apache-2.0: 817 questions
  people get wrong (health, law, history, science, ...) -> ``open_question``, split ``outside``: never
  trained on. Trained on, they made the head call more everyday work an open question, and the
  default policy puts open questions on tier1: brainstorming and writing phrased as a question went
  down a tier (everyday-set tier accuracy 0.719 -> 0.679). They stay as an outside check instead.

Only the request text and its label are kept (``training/data/general_requests.jsonl.gz``; sources and
licences in ``training/data/README.md`` and the model card). Changes from the originals: MBPP's code
and most tests dropped, one test appended to half the descriptions; TruthfulQA's answers dropped.
"""
from __future__ import annotations

import argparse
import csv
import gzip
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GENERAL_FILE = ROOT / "training" / "data" / "general_requests.jsonl.gz"
MBPP_HELD_OUT_IDS = range(11, 511)  # the paper's evaluation split

def mbpp_rows(path: Path, source: str) -> list[dict]:
    rows, seen = [], set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        task_id = record.get("task_id")
        if not isinstance(task_id, int) or not 1 <= task_id <= 974 or task_id in seen:
            continue  # copies of the file sometimes carry extra tasks after MBPP's own 974: the first of each id
        seen.add(task_id)
        text = record["text"].strip()
        if task_id % 2 and record.get("test_list"):
            text += f"\nYour code should pass this test:\n{record['test_list'][0].strip()}"
        rows.append({"text": text, "task_type": "code", "source": source, "id": f"mbpp/{task_id}",
                     "split": "held_out" if task_id in MBPP_HELD_OUT_IDS else "train"})
    return rows


def truthfulqa_rows(path: Path, source: str) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as stream:
        return [{"text": record["Question"].strip(), "task_type": "open_question", "source": source,
                 "id": f"truthfulqa/{index}", "split": "outside"}
                for index, record in enumerate(csv.DictReader(stream))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mbpp", type=Path, required=True, help="MBPP's mbpp.jsonl")
    parser.add_argument("--truthfulqa", type=Path, required=True, help="TruthfulQA's TruthfulQA.csv")
    parser.add_argument("--mbpp-source", default="google-research/google-research:mbpp/mbpp.jsonl (CC-BY-4.0)")
    parser.add_argument("--truthfulqa-source", default="sylinrl/TruthfulQA:TruthfulQA.csv (Apache-2.0)")
    args = parser.parse_args()
    rows = mbpp_rows(args.mbpp, args.mbpp_source) + truthfulqa_rows(args.truthfulqa, args.truthfulqa_source)
    GENERAL_FILE.parent.mkdir(parents=True, exist_ok=True)
    with gzip.GzipFile(GENERAL_FILE, "wb", mtime=0) as stream:
        stream.write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8"))
    held = sum(row["split"] != "train" for row in rows)
    print(f"{len(rows)} general requests ({held} held out or outside) -> {GENERAL_FILE}")


if __name__ == "__main__":
    main()
