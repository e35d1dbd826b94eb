"""Compact copies of RouteLLM's public evaluation data (Apache-2.0), pinned to one commit.

Training needs, per prompt, whether Mixtral-8x7B (the weak model) and GPT-4-1106 (the strong one)
answered correctly (MMLU, GSM8K); the quality bench needs the MT-Bench judgements. Both are read from a
local RouteLLM git directory or downloaded from GitHub at ``ROUTELLM_COMMIT``, and written as small
gzip JSON-lines files: ``training/data/routellm_pairs.jsonl.gz`` and ``bench/data/mt_bench.jsonl``.
It also samples GSM8K *training* problems that mention a dollar amount (MIT; never used for training)
into ``bench/data/gsm8k_money_problems.jsonl``: the benign texts with amounts that the risk bench
and tests check for false alarms.

    python -m training.routellm_data [--git-dir /path/to/RouteLLM/.git]
"""
from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import subprocess
import urllib.request
from pathlib import Path

ROUTELLM_REPO = "lm-sys/RouteLLM"
ROUTELLM_COMMIT = "0b64fdafe049e596a3f5657c219329f24af24198"
RAW_URL = "https://raw.githubusercontent.com/{repo}/{commit}/{path}"
WEAK, STRONG = "mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview"
# Prompts are cut here: the router reads at most this much anyway (app/routing/learned/features.py).
PROMPT_CHARS = 2_000
ROOT = Path(__file__).resolve().parents[1]
PAIRS_FILE = ROOT / "training" / "data" / "routellm_pairs.jsonl.gz"
MT_BENCH_FILE = ROOT / "bench" / "data" / "mt_bench.jsonl"
GSM8K_MONEY_FILE = ROOT / "bench" / "data" / "gsm8k_money_problems.jsonl"
GSM8K_MONEY_SAMPLE = 300
SAMPLE_SEED = 13
csv.field_size_limit(10**8)


class Source:
    """Reads one file of the pinned RouteLLM commit, from a git dir when given, else from GitHub."""

    def __init__(self, git_dir: str | None):
        self.git_dir = git_dir

    def listing(self, folder: str) -> list[str]:
        if self.git_dir:
            out = subprocess.run(["git", "--git-dir", self.git_dir, "ls-tree", "--name-only", ROUTELLM_COMMIT,
                                  folder + "/"], check=True, capture_output=True, text=True).stdout
            return out.split()
        api = f"https://api.github.com/repos/{ROUTELLM_REPO}/contents/{folder}?ref={ROUTELLM_COMMIT}"
        with urllib.request.urlopen(api, timeout=60) as response:
            return [entry["path"] for entry in json.load(response)]

    def read(self, path: str) -> str:
        if self.git_dir:
            return subprocess.run(["git", "--git-dir", self.git_dir, "show", f"{ROUTELLM_COMMIT}:{path}"],
                                  check=True, capture_output=True, text=True).stdout
        with urllib.request.urlopen(RAW_URL.format(repo=ROUTELLM_REPO, commit=ROUTELLM_COMMIT, path=path),
                                    timeout=120) as response:
            return response.read().decode("utf-8")


def contaminated(source: Source, benchmark: str) -> set[str]:
    text = source.read(f"routellm/evals/{benchmark}/contaminated_prompts.jsonl")
    return {json.loads(line)["eval_prompt"].strip() for line in text.splitlines() if line.strip()}


def correctness_rows(source: Source) -> list[dict]:
    """MMLU and GSM8K prompts with both models' correctness; RouteLLM's own contaminated prompts dropped."""
    rows = []
    files = [("gsm8k", "routellm/evals/gsm8k/gsm8k_responses.csv")]
    files += [("mmlu", path) for path in sorted(source.listing("routellm/evals/mmlu/responses")) if path.endswith(".csv")]
    skip = {name: contaminated(source, name) for name in ("gsm8k", "mmlu")}
    for benchmark, path in files:
        subject = Path(path).stem.removeprefix("mmlu_")
        for record in csv.DictReader(io.StringIO(source.read(path))):
            prompt = record["prompt"].strip()
            if prompt in skip[benchmark]:
                continue
            rows.append({"source": benchmark, "subject": subject, "prompt": prompt[:PROMPT_CHARS],
                         "weak_correct": record[WEAK] == "True", "strong_correct": record[STRONG] == "True"})
    return rows


def mt_bench_rows(source: Source) -> list[dict]:
    """One row per MT-Bench question: first-turn prompt, category, each model's mean judge score over 2 turns."""
    questions = [json.loads(line) for line in source.read("routellm/evals/mt_bench/question.jsonl").splitlines() if line]
    skip = contaminated(source, "mt_bench")
    scores: dict[tuple[int, str], list[float]] = {}
    for line in source.read("routellm/evals/mt_bench/judgements.jsonl").splitlines():
        if line.strip():
            judged = json.loads(line)
            scores.setdefault((judged["question_id"], judged["model"]), []).append(float(judged["score"]))
    rows = []
    for question in questions:
        turns = [turn.strip() for turn in question["turns"]]
        if any(turn in skip for turn in turns):
            continue
        qid = question["question_id"]
        rows.append({"question_id": qid, "category": question["category"], "prompt": question["turns"][0],
                     "weak_scores": scores[(qid, WEAK)], "strong_scores": scores[(qid, STRONG)]})
    return rows


def gsm8k_money_problems(source: Source) -> list[str]:
    """A fixed sample of GSM8K training problems with a dollar amount in them."""
    import random

    questions = [json.loads(line)["question"] for line in source.read("routellm/evals/gsm8k/train.jsonl").splitlines()
                 if line.strip()]
    with_amounts = [question for question in questions if "$" in question]
    return random.Random(SAMPLE_SEED).sample(with_amounts, GSM8K_MONEY_SAMPLE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--git-dir", help="a local RouteLLM git directory (else: download from GitHub)")
    args = parser.parse_args()
    source = Source(args.git_dir)
    pairs = correctness_rows(source)
    PAIRS_FILE.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0: the same data gives the same bytes, so a re-run leaves git clean.
    with gzip.GzipFile(PAIRS_FILE, "wb", compresslevel=9, mtime=0) as out:
        out.write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in pairs).encode("utf-8"))
    bench = mt_bench_rows(source)
    MT_BENCH_FILE.parent.mkdir(parents=True, exist_ok=True)
    MT_BENCH_FILE.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in bench))
    problems = gsm8k_money_problems(source)
    GSM8K_MONEY_FILE.write_text("".join(json.dumps({"text": text}, ensure_ascii=False) + "\n" for text in problems))
    print(f"{len(pairs)} correctness pairs -> {PAIRS_FILE}; {len(bench)} MT-Bench questions -> {MT_BENCH_FILE}")


if __name__ == "__main__":
    main()
