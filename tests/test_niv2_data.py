"""The Super-NaturalInstructions rows the task-type head trains on: what is kept, and what never leaks in.

The rows are built from the FLAN repository's copy of the NIv2 task definitions and categories
(training/niv2_data.py). Only English tasks whose category has a clean counterpart among the policy's
task types are kept, and none of the text the benchmarks judge the router on may be among them.
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path

from app.policy import load_policy
from training.niv2_data import NIV2_FILE, TASKS_PER_TYPE, rows_from

ROOT = Path(__file__).resolve().parents[1]
HEADER = "Source,Dataset,Specific Task Category,Generic Task Category,Languages\n"


def task(definition: str, given: str = "") -> dict:
    return {"definition": definition, "positive_examples": {"input": given, "output": "x"}, "number_examples": 1}


def test_categories_map_onto_policy_types_and_the_rest_is_left_out():
    meta = {"task1_sentiment": task("Classify the review as positive or negative.", "Great mug."),
            "task2_qgen": task("Write a question about the passage.", "Passage: ..."),
            "task3_fa_sentiment": task("Classify the Persian review.", "..."),
            "task4_long_qa": task("Answer the question from the passage.", "Passage: " + "words " * 100),
            "task5_short_qa": task("Answer the question.", "Who wrote Faust?")}
    info = HEADER + "\n".join([
        "NIv2,a,task1_sentiment,Sentiment Analysis,['English']",
        "NIv2,b,task2_qgen,Question Generation,['English']",
        "NIv2,c,task3_fa_sentiment,Sentiment Analysis,['Persian']",
        "NIv2,d,task4_long_qa,Question Answering,['English']",
        "NIv2,e,task5_short_qa,Question Answering,['English']",
        "T0,f,task1_sentiment,Sentiment Analysis,['English']"]) + "\n"
    rows = rows_from(meta, info, "test")
    assert [(row["group"], row["task_type"], row["text"]) for row in rows] == [
        ("task1_sentiment", "classification", "Classify the review as positive or negative."),
        ("task1_sentiment", "classification", "Classify the review as positive or negative.\n\nGreat mug."),
        ("task5_short_qa", "open_question", "Answer the question."),
        ("task5_short_qa", "open_question", "Answer the question.\n\nWho wrote Faust?"),
    ]


def test_each_type_keeps_at_most_the_cap_of_tasks():
    meta = {f"task{index}_translate": task(f"Translate sentence {index} into German.") for index in range(TASKS_PER_TYPE + 7)}
    info = HEADER + "".join(f"NIv2,t,{name},Translation,\"['English', 'German']\"\n" for name in meta)
    groups = {row["group"] for row in rows_from(meta, info, "test")}
    assert len(groups) == TASKS_PER_TYPE


def committed_rows() -> list[dict]:
    with gzip.open(NIV2_FILE, "rt", encoding="utf-8") as stream:
        return [json.loads(line) for line in stream]


def test_committed_rows_use_the_policy_types_only():
    types = set(load_policy().task_types)
    rows = committed_rows()
    assert rows and {row["task_type"] for row in rows} <= types


def test_no_benchmark_text_is_trained_on():
    """MT-Bench and the outside everyday set judge the router: none of their prompts may be training rows."""
    trained = {row["text"].strip().lower() for row in committed_rows()}
    judged = [json.loads(line)["prompt"] for line in (ROOT / "bench/data/mt_bench.jsonl").read_text().splitlines() if line]
    judged += [json.loads(line)["text"] for line in (ROOT / "bench/data/user_oriented_labelled.jsonl").read_text().splitlines() if line]
    assert not [text for text in judged if text.strip().lower() in trained]
