"""Requests that carry a reference text: extract from it, answer from it, summarise it.

Everyday requests often paste a passage (a Wikipedia paragraph, an article, a document) under or above
a short instruction. Without such rows in training the task-type head read the passage, not the ask:
numbers and dates in it looked like a maths problem, facts like an exam question. Each template here
pairs a generic instruction with a passage from the training split of the RouteLLM pairs (MIT-licensed
text inside Apache-2.0 files): MMLU's history passages (primary sources, memoirs, speeches) and
GSM8K's word problems without their final question (a narrative full of numbers that is *not* maths
once nobody asks for a calculation). The instructions were written for Tiergate from the task
definitions, not taken from any evaluation set.
"""
from __future__ import annotations

import random
import re

SEED = 13
PER_TEMPLATE = 10
PASSAGE_CHARS = 700  # passages are cut at a sentence end near this length
HISTORY_PREFIX = "This question refers to the following information."

TEMPLATES: dict[str, list[str]] = {
    "extraction": [
        "From the passage below, extract every name of a person it mentions. Separate them with commas.\n\n{passage}",
        "List all the dates and years mentioned in this text, one per line.\n\n{passage}",
        "{passage}\n\nExtract the places named in the text above as a bulleted list.",
        "Pull out each number in the following paragraph together with what it counts.\n\n{passage}",
        "Which people, places and organisations appear in this text? Return them as JSON lists.\n\n{passage}",
        "Using the text below, list the key facts (who, what, when, where) as fields.\n{passage}",
        "Extract the main events described in this passage in the order they happen.\n\n{passage}",
        "{passage}\n\nFrom this paragraph, pull out every item that is listed and give them as bullets.",
        "Find the quantities and amounts in this text and put them in a table.\n\n{passage}",
        "Get the names and roles of everyone in the passage:\n{passage}",
        "Extract the nouns that refer to objects in the text below, comma separated.\n\n{passage}",
        "Identify every person and what they did, according to this text.\n\n{passage}",
    ],
    "faq_answer": [
        "Based on the passage below, who is it mainly about?\n\n{passage}",
        "Given this text, when did the events it describes take place?\n\n{passage}",
        "{passage}\n\nAccording to the text above, what was the outcome?",
        "Using only the reference text, answer: where does this take place?\n\n{passage}",
        "Read the paragraph and tell me why this happened, based on the text.\n\n{passage}",
        "From the passage, how many are mentioned? Answer from the text only.\n\n{passage}",
        "Given the reference text, is the following true: it happened only once?\n\n{passage}",
        "{passage}\n\nBased on this paragraph, what does the author want?",
        "According to the text below, what was the reason given?\n{passage}",
        "Answer the question from the passage: what changed at the end?\n\n{passage}",
        "Here is some text. Using it, tell me what the main problem was.\n\n{passage}",
        "Given this paragraph, what is the name of the group it describes?\n\n{passage}",
    ],
    "summary": [
        "Summarize this passage in two sentences.\n\n{passage}",
        "Give me a short summary of the text below.\n\n{passage}",
        "{passage}\n\nWrite three bullet points with the key points of the text above.",
        "TL;DR of this text please:\n{passage}",
        "What is this text about? Sum it up briefly.\n\n{passage}",
        "Condense the following paragraph into one sentence.\n\n{passage}",
        "{passage}\n\nSummarise the above for a reader in a hurry.",
        "Please write a brief overview of this passage.\n\n{passage}",
        "Give me the gist of the following text in plain words.\n{passage}",
        "Shorten this text to its main ideas, keep it under 60 words.\n\n{passage}",
        "Provide a summary of the passage below as a short paragraph.\n\n{passage}",
        "Make a bulleted summary of this text.\n\n{passage}",
    ],
}


def cut(text: str, limit: int = PASSAGE_CHARS) -> str:
    """The text up to the last sentence end before ``limit`` (or the whole text if shorter)."""
    text = text.strip()
    if len(text) <= limit:
        return text
    end = max(text.rfind(". ", 0, limit), text.rfind(".\n", 0, limit))
    return text[:end + 1] if end > limit // 3 else text[:limit]


def history_passage(prompt: str) -> str | None:
    """The source text of an MMLU history question, without the question and its options."""
    if not prompt.startswith(HISTORY_PREFIX):
        return None
    body = prompt[len(HISTORY_PREFIX):].split("\nA. ", 1)[0].strip()
    lines = [line for line in body.splitlines() if line.strip()]
    if len(lines) < 3:
        return None
    lines = lines[:-1]  # the question itself
    if re.match(r"^(?:Read|Use|The following|This question)", lines[0]):
        lines = lines[1:]  # "Read the following memoir."
    passage = cut("\n".join(lines))
    return passage if len(passage) > 150 else None


def story_passage(prompt: str) -> str | None:
    """A GSM8K problem without its question sentence: a numeric narrative nobody asks to compute."""
    sentences = re.split(r"(?<=[.!?])\s+", prompt.strip())
    kept = [sentence for sentence in sentences if "?" not in sentence]
    passage = " ".join(kept)
    return passage if len(kept) >= 2 and len(passage) > 80 else None


def passages(pairs: list[dict]) -> list[str]:
    """Reference texts from the (training split of the) RouteLLM pairs, in a fixed order."""
    found = []
    for row in pairs:
        passage = history_passage(row["prompt"]) if row["source"] == "mmlu" else story_passage(row["prompt"])
        if passage:
            found.append(passage)
    return sorted(set(found))


def examples(pairs: list[dict]) -> list[dict]:
    """``[{text, task_type, group}]``; ``group`` is ``passage/<task type>/<template index>``."""
    rng = random.Random(SEED)
    pool = passages(pairs)
    rows = []
    for task_type, templates in TEMPLATES.items():
        for index, template in enumerate(templates):
            for passage in rng.sample(pool, PER_TEMPLATE):
                rows.append({"text": template.replace("{passage}", passage), "task_type": task_type,
                             "group": f"passage/{task_type}/{index}"})
    return rows
