"""Train the sensitive-content head (none / money / legal / medical / security) for the weight file.

Data: ``training/sensitive_examples.py`` (written for Tiergate, English and German) plus broad
harmless text as ``none``: GSM8K word problems and MMLU questions of non-medical, non-legal,
non-security subjects (from the RouteLLM pairs file), the SME task examples and the human-written
self-instruct seed instructions that no lexicon flags,
so the head does not mistake "how much ... $12" for a dosage question. The test file
``tests/data/sensitive_messages.jsonl`` is never read here. The threshold on P(sensitive) is
chosen on whole templates held out of a first fit: the lowest value that keeps false alarms on the
held-out harmless templates at or below ``MAX_HELD_OUT_FALSE_ALARMS`` (the lexicons beside it carry the
rest of the recall); the shipped head is then refitted on every template.
"""
from __future__ import annotations

import hashlib
from functools import partial

from app.routing.learned.features import content_features

from app.routing.sensitive_lexicon import lexicon_hits
from training import sensitive_examples

HELD_OUT_TEMPLATES = (2, 7, 13)
SENSITIVE_C = 8.0
MAX_HELD_OUT_FALSE_ALARMS = 0.05
MIN_DF = 2
# The head speaks only at 3:1 odds: on short business text below that it adds more false alarms (a
# one-line "please check order 7") than the lexicons beside it leave misses.
MIN_THRESHOLD = 0.75
HARMLESS_PAIRS = 1500
# MMLU subjects whose questions are medical, legal or security matters: not used as harmless text.
SENSITIVE_SUBJECTS = ("medic", "clinical", "anatomy", "nutrition", "virology", "aging", "law", "jurisprudence",
                      "security", "accounting", "genetics", "health", "psychology", "sexuality")


def _share(text: str) -> float:
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:8], 16) / 0xFFFFFFFF


def harmless_rows(pairs: list[dict], sme: list[dict], instructions: list[dict]) -> list[dict]:
    """Broad ``none`` examples, deterministic; groups by hash so a slice can be held out.

    Every SME template row and every human-written instruction that no lexicon flags: without them the
    head took "Should we open a second shop?" for a medical question ("Should I stop taking ...").
    """
    picked = [row["prompt"] for row in pairs
              if not any(word in row["subject"] for word in SENSITIVE_SUBJECTS) and not lexicon_hits(row["prompt"])]
    picked = sorted(picked, key=_share)[:HARMLESS_PAIRS]
    texts = [row["text"] for row in sme + instructions if not lexicon_hits(row["text"])]
    return [{"text": text, "label": "none", "group": f"broad/{int(_share(text) * 1e6) % 20}"}
            for text in dict.fromkeys(picked + texts)]


def train_sensitive(vocabulary, matrix, rounded, pairs: list[dict], sme: list[dict],
                    instructions: list[dict]) -> tuple[dict, dict]:
    """``(head spec for the weight file, figures for the model card)``."""
    from sklearn.linear_model import LogisticRegression

    vocabulary = partial(vocabulary, featurize=content_features)
    matrix = partial(matrix, featurize=content_features)

    rows = sensitive_examples.examples() + harmless_rows(pairs, sme, instructions)
    held = {row["group"] for row in rows if int(row["group"].split("/")[1]) in HELD_OUT_TEMPLATES}
    train_rows = [row for row in rows if row["group"] not in held]
    test_rows = [row for row in rows if row["group"] in held]

    def fit(data):
        vocab = vocabulary([row["text"] for row in data], MIN_DF)
        model = LogisticRegression(C=SENSITIVE_C, max_iter=3000, class_weight="balanced")
        model.fit(matrix([row["text"] for row in data], vocab), [row["label"] for row in data])
        return vocab, model

    vocab, model = fit(train_rows)
    classes = [str(name) for name in model.classes_]
    none = classes.index("none")
    scores = [1.0 - float(p[none]) for p in model.predict_proba(matrix([row["text"] for row in test_rows], vocab))]
    # The look-alikes (product texts, prices, names) decide the threshold; broad text is easy to pass.
    lookalikes = sorted((score for score, row in zip(scores, test_rows) if row["group"].startswith("none/")),
                        reverse=True)
    allowed = int(MAX_HELD_OUT_FALSE_ALARMS * len(lookalikes))
    threshold = max(lookalikes[allowed] + 1e-6, MIN_THRESHOLD)
    benign = [score for score, row in zip(scores, test_rows) if row["label"] == "none"]
    positives = [score for score, row in zip(scores, test_rows) if row["label"] != "none"]
    recall = sum(score >= threshold for score in positives) / len(positives)
    false_alarms = sum(score >= threshold for score in benign) / len(benign)

    vocab, model = fit(rows)
    classes = [str(name) for name in model.classes_]
    head = {"kind": "softmax", "classes": classes, "bias": [rounded(b) for b in model.intercept_],
            "threshold": round(threshold, 4),
            "weights": {feature: [rounded(value) for value in model.coef_[:, column]]
                        for column, feature in enumerate(vocab)}}
    stats = {"sensitive_examples": len(rows), "sensitive_held_out": len(test_rows), "sensitive_features": len(vocab),
             "sensitive_threshold": round(threshold, 4), "sensitive_recall_held_out": round(recall, 4),
             "sensitive_false_alarms_held_out": round(false_alarms, 4)}
    return head, stats
