"""Build the compact instruction files from self-instruct (Apache-2.0): a training file and an outside set.

    python -m training.instruction_data --git-dir /path/to/self-instruct/.git

Source: yizhongw/self-instruct (Wang et al. 2022, "Self-Instruct"), Apache-2.0, at ``SELF_INSTRUCT_COMMIT``.
- ``data/seed_tasks.jsonl``: 175 human-written seed instructions -> ``training/data/instructions.jsonl.gz``
  (training data for the task-type head).
- ``human_eval/user_oriented_instructions.jsonl``: 252 human-written instructions motivated by everyday
  apps (Gmail, Excel, LinkedIn, Leetcode, ...) -> ``bench/data/user_oriented_labelled.jsonl``: the
  outside set for task-type accuracy until issue 21's third round, trained on since (the outside check
  is now a Dolly sample kept outside the repository; training/train_router.py ``load_everyday``).
Neither file carries category labels that fit the policy, so each instruction was labelled by hand onto
the default policy's task types (one letter per instruction below, in file order; ``u`` = left out as
none of them fits). The text kept is the instruction plus its first example input, as a user would send it.
"""
from __future__ import annotations

import argparse
import gzip
import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAIN_FILE = ROOT / "training" / "data" / "instructions.jsonl.gz"
OUTSIDE_FILE = ROOT / "bench" / "data" / "user_oriented_labelled.jsonl"
SELF_INSTRUCT_COMMIT = "0b26cca"  # git log -1 --format=%H is recorded by main() into the files' source field
CODES = {"c": "classification", "x": "extraction", "s": "summary", "f": "format_rewrite", "t": "translation",
         "q": "faq_answer", "w": "writing", "b": "brainstorming", "k": "code", "m": "maths", "o": "open_question",
         "p": "copywriting", "r": "support_reply", "z": "code_patch", "g": "strategy"}
SEED_LABELS = ("oowowobowb" "bbouwoobwo" "wwmobmoxkw" "bkowombkbx" "bkffbmwwow" "kfbxowbwmw" "okswsbuxwk"
               "bwkowwbwfw" "bbomwxwwop" "wbcwoowffo" "wtooowubwm" "mowwfobtow" "ubowwwfbow" "oomooocmsk"
               "kkoomboocc" "cccocmcckc" "ccoqomcccc" "xcccc")
USER_ORIENTED_LABELS = ("fcffbwfpww" "bokkkmoobm" "obbwwpboxp" "bowwbbcokk" "kbwbbobboo" "bbwrppwwpb"
                        "pppbfpbbbo" "oopwwwbokp" "sscooowbbo" "ockkbokfsw" "toqbbbbbbb" "bbbomobbbb"
                        "bfwboooqbo" "boommbbobc" "mmmmmoooom" "bbowwwfxcs" "sfxccccbbb" "oobuooqbfx"
                        "bsuccowffw" "kxbfckucbs" "obsowkwwbb" "kpxobbwwww" "fbswfckzbo" "pkcbccfwco"
                        "fbkccowxbb" "oo")


def request_text(record: dict) -> str:
    instances = record.get("instances") or [{}]
    given = (instances[0].get("input") or "").strip()
    return record["instruction"].strip() + (f"\n\n{given}" if given else "")


def labelled(lines: list[str], labels: str, source: str) -> list[dict]:
    if len(lines) != len(labels):
        raise SystemExit(f"{source}: {len(lines)} instructions but {len(labels)} labels")
    rows = []
    for line, code in zip(lines, labels):
        if code == "u":
            continue
        record = json.loads(line)
        rows.append({"text": request_text(record), "task_type": CODES[code], "source": source, "id": record["id"]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--git-dir", required=True, help="a clone (or bare git dir) of yizhongw/self-instruct")
    args = parser.parse_args()

    def show(path: str) -> list[str]:
        out = subprocess.run(["git", "--git-dir", args.git_dir, "show", f"HEAD:{path}"], check=True,
                             capture_output=True, text=True).stdout
        return [line for line in out.splitlines() if line.strip()]

    commit = subprocess.run(["git", "--git-dir", args.git_dir, "rev-parse", "HEAD"], check=True,
                            capture_output=True, text=True).stdout.strip()
    seed = labelled(show("data/seed_tasks.jsonl"), SEED_LABELS, f"self-instruct@{commit}:data/seed_tasks.jsonl")
    outside = labelled(show("human_eval/user_oriented_instructions.jsonl"), USER_ORIENTED_LABELS,
                       f"self-instruct@{commit}:human_eval/user_oriented_instructions.jsonl")
    TRAIN_FILE.parent.mkdir(parents=True, exist_ok=True)
    with gzip.GzipFile(TRAIN_FILE, "wb", mtime=0) as stream:
        stream.write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in seed).encode("utf-8"))
    OUTSIDE_FILE.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in outside), encoding="utf-8")
    print(f"{len(seed)} training instructions -> {TRAIN_FILE}\n{len(outside)} outside instructions -> {OUTSIDE_FILE}")


if __name__ == "__main__":
    main()
