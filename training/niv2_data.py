"""Compact, category-labelled instructions from Super-NaturalInstructions (Apache-2.0), via the FLAN repository.

    python -m training.niv2_data --git-dir /path/to/google-research/FLAN/.git

Super-NaturalInstructions (Wang et al. 2022, allenai/natural-instructions, Apache-2.0) is 3.2 GB on
GitHub. google-research/FLAN (Apache-2.0) keeps, at ``FLAN_COMMIT``, every NIv2 task's human-written
definition and its first positive example (``flan/v2/constants_niv2.py``) and each task's category
(``flan/v2/flan_collection_info.csv``): 1,600 tasks in 200 KB of categories and 2 MB of text.

Each English task whose category maps onto one of the policy's task types (``CATEGORY_TYPES``) gives
two rows, as users send work: the definition alone, and the definition followed by its example input.
Categories with no clean counterpart (question generation, wrong-answer generation, program
execution, fill in the blank, ...) are left out. Each type keeps at most ``TASKS_PER_TYPE`` tasks, chosen by
a hash of the task name, so translation (394 tasks) does not drown the rest.
Written to ``training/data/niv2_instructions.jsonl.gz`` (committed), with the task name as ``group``.
"""
from __future__ import annotations

import argparse
import ast
import csv
import gzip
import hashlib
import io
import json
import subprocess
from pathlib import Path

from app.routing.learned.features import MAX_CHARS

ROOT = Path(__file__).resolve().parents[1]
NIV2_FILE = ROOT / "training" / "data" / "niv2_instructions.jsonl.gz"
FLAN_COMMIT = "e9e4ec6e2701182c7a91af176f705310da541277"
TASKS_PER_TYPE = 150
# A question-answering task is an open question only when its example is short (no passage to read).
SHORT_QUESTION_CHARS = 300
CATEGORY_TYPES = {
    "classification": ("Sentiment Analysis", "Text Categorization", "Toxic Language Detection", "Spam Classification",
                       "Intent Identification", "Stance Detection", "Irony Detection", "Stereotype Detection",
                       "Ethics Classification", "Food Classification", "Section Classification",
                       "Dialogue Act Recognition", "Language Identification", "Text Quality Evaluation",
                       "Answerability Classification", "Coherence Classification", "Cause Effect Classification",
                       "Commonsense Classification", "Textual Entailment", "Fact Verification",
                       "Grammar Error Detection", "Spelling Error Detection", "Gender Classification"),
    "extraction": ("Information Extraction", "Named Entity Recognition", "Keyword Tagging", "Overlap Extraction"),
    "summary": ("Summarization",),
    "format_rewrite": ("Paraphrasing", "Text Simplification", "Sentence Compression", "Style Transfer",
                       "Grammar Error Correction", "Question Rewriting", "Number Conversion"),
    "writing": ("Title Generation", "Story Composition", "Poem Generation", "Rhyme Generation", "Dialogue Generation",
                "Data to Text", "Sentence Expansion", "Sentence Composition"),
    "code": ("Text to Code", "Code to Text"),
    "maths": ("Mathematics",),
    "translation": ("Translation",),
    "open_question": ("Question Answering",),
}
TYPE_OF = {category: task_type for task_type, categories in CATEGORY_TYPES.items() for category in categories}


def rank(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8")).hexdigest()


def rows_from(meta: dict[str, dict], info_csv: str, source: str) -> list[dict]:
    chosen: dict[str, list[tuple[str, dict]]] = {}
    for line in csv.DictReader(io.StringIO(info_csv)):
        task_type = TYPE_OF.get(line["Generic Task Category"])
        name = line["Specific Task Category"]
        if line["Source"] != "NIv2" or task_type is None or name not in meta or "English" not in line["Languages"]:
            continue
        task = meta[name]
        given = (task.get("positive_examples") or {}).get("input", "").strip()
        if task_type == "open_question" and len(given) > SHORT_QUESTION_CHARS:
            continue
        chosen.setdefault(task_type, []).append((name, task))
    rows = []
    for task_type, tasks in sorted(chosen.items()):
        for name, task in sorted(tasks, key=lambda item: rank(item[0]))[:TASKS_PER_TYPE]:
            definition = task["definition"].strip()
            given = (task.get("positive_examples") or {}).get("input", "").strip()
            for text in (definition, f"{definition}\n\n{given}" if given else ""):
                if text:
                    rows.append({"text": text[:MAX_CHARS], "task_type": task_type, "group": name, "source": source})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--git-dir", required=True, help="a clone (or bare git dir) of google-research/FLAN")
    args = parser.parse_args()

    def show(path: str) -> str:
        return subprocess.run(["git", "--git-dir", args.git_dir, "show", f"{FLAN_COMMIT}:{path}"], check=True,
                              capture_output=True, text=True).stdout

    module = ast.parse(show("flan/v2/constants_niv2.py"))
    meta = next(ast.literal_eval(node.value) for node in module.body
                if isinstance(node, ast.Assign) and node.targets[0].id == "NATINST_META_DATA")
    rows = rows_from(meta, show("flan/v2/flan_collection_info.csv"), f"google-research/FLAN@{FLAN_COMMIT}")
    NIV2_FILE.parent.mkdir(parents=True, exist_ok=True)
    with gzip.GzipFile(NIV2_FILE, "wb", mtime=0) as stream:
        stream.write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8"))
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["task_type"]] = counts.get(row["task_type"], 0) + 1
    print(f"{len(rows)} rows -> {NIV2_FILE}: {json.dumps(counts)}")


if __name__ == "__main__":
    main()
