"""The shipped weight file and its heads, scored in plain Python.

A head is a linear model over the n-gram features of ``features.py``: every feature it knows counts
``1/sqrt(n)`` (n = how many of its features the text has), so a long text does not shout louder than a
short one. ``softmax`` heads name one of several classes (the task type); ``logistic`` heads give one
probability (premium needed). The plugin shape is the routers' own: a base class and a registry keyed by
the ``kind`` written in the weight file.

When the file is read, every head's weights go into one ``WeightTable`` (``table.py``): per feature one
integer that holds all heads' rows, so a text is scored with one intersection and one sum for all heads
at once, and the sum over its n-grams is cached per text (the task-type and premium heads of the learned
router and the rules' sensitive-content check read the same text in one decision).

The file is gzip JSON: ``{"format": 1, "heads": {name: {kind, bias, weights, ...}}, "calibration":
{...}, "checks": [...], "trained": {...}}``. A missing, unreadable or inconsistent file raises
``WeightFileError`` naming the file and what is wrong with it.
"""
from __future__ import annotations

import gzip
import json
import math
from functools import lru_cache
from pathlib import Path

from app.errors import ConfigError
from app.routing.learned.calibration import threshold_for
from app.routing.learned.features import (FUNCTION_WORDS, MAX_CHARS, marker_features, ngrams,
                                          register_text_cache)
from app.routing.learned.table import WeightTable

WEIGHTS_FILE = Path(__file__).with_name("weights.json.gz")
FORMAT = 1
# Known n-grams the sensitive-content head needs before it may flag a text.
MIN_SENSITIVE_EVIDENCE = 3
# The most features one text can have: a token and a bigram per character read, and the markers.
MAX_FEATURES = 2 * MAX_CHARS + 64


class WeightFileError(ConfigError):
    """The learned router's weight file is missing, unreadable or not in the expected shape."""


def is_marker(feature: str) -> bool:
    """A structural marker ("#code", "#len<=50"), not the token "#" or a bigram that starts with it."""
    return feature.startswith("#") and len(feature) > 1 and " " not in feature


def is_content(feature: str) -> bool:
    """An n-gram with at least one content word: what ``features.content_features`` keeps."""
    return not is_marker(feature) and not all(word in FUNCTION_WORDS for word in feature.split(" "))


class Head:
    """One linear head over the shared features, as the weight file gives it."""

    def __init__(self, spec: dict):
        self.bias = spec["bias"]
        self.columns = 1

    def rows(self, spec: dict) -> dict[str, list[float] | float]:
        """``{feature: one weight per column}`` (a bare weight for one column), as ``WeightTable`` packs them."""
        return spec["weights"]


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


class LogisticHead(Head):
    def __init__(self, spec: dict):
        super().__init__(spec)
        self.bias = [float(spec["bias"])]


class SoftmaxHead(Head):
    def __init__(self, spec: dict):
        super().__init__(spec)
        self.classes: list[str] = spec["classes"]
        if len(self.bias) != len(self.classes):
            raise ValueError(f"{len(self.bias)} biases for {len(self.classes)} classes")
        self.columns = len(self.classes)

    def probabilities(self, logits: list[float]) -> dict[str, float]:
        """Class probabilities from the logits (softmax)."""
        top = max(logits)
        exps = [math.exp(value - top) for value in logits]
        norm = sum(exps)
        return {name: value / norm for name, value in zip(self.classes, exps)}


HEAD_KINDS: dict[str, type[Head]] = {"logistic": LogisticHead, "softmax": SoftmaxHead}


@lru_cache(maxsize=256)
def ngram_total(table: WeightTable, text: str) -> int:
    """The table's packed sum over the n-grams of ``text``; cached, the heads of one decision share it."""
    return table.total(ngrams(text))


register_text_cache(ngram_total.cache_clear)


class LearnedModel:
    """The heads and the premium calibration table of one weight file."""

    def __init__(self, document: dict, origin: str = "<memory>"):
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise WeightFileError(f"{origin}: not a Tiergate router weight file of format {FORMAT}")
        try:
            heads = document["heads"]
            self.task_type = self._head(heads["task_type"], SoftmaxHead)
            self.premium = self._head(heads["premium"], LogisticHead)
            # Optional second premium head over the structural markers alone (code, maths, steps, ...):
            # the word head learns its benchmarks' topics, the markers transfer across sources.
            structure = heads.get("premium_structure")
            self.premium_structure = self._head(structure, LogisticHead) if structure else None
            self.premium_word_share = float(structure["word_share"]) if structure else 1.0
            # [[share, threshold], ...], share ascending: the share of typical traffic scoring >= threshold.
            self.calibration = [(float(share), float(threshold)) for share, threshold in document["calibration"]["premium"]]
            # Optional: a weight file without the sensitive-content head still routes (lexicons only).
            sensitive = heads.get("sensitive")
            self.sensitive = self._head(sensitive, SoftmaxHead) if sensitive else None
            self.sensitive_threshold = float(sensitive["threshold"]) if sensitive else 1.0
            # The block with the most features that only it knows sits in the lowest fields: a feature's
            # integer is as long as its highest field, and most features are the premium head's alone.
            blocks = {"premium": (1, self.premium.rows(heads["premium"]))}
            if structure:
                blocks["premium_structure"] = (1, self.premium_structure.rows(structure))
            if sensitive:
                # The sensitive head judges what a text is about (it is trained on ``content_features``):
                # an n-gram of function words alone or a marker never reaches it, so it is left out of its
                # block, and its hits are the same as with the content features.
                blocks["sensitive"] = (self.sensitive.columns, {feature: row for feature, row in
                                                                self.sensitive.rows(sensitive).items()
                                                                if is_content(feature)})
            blocks["task_type"] = (self.task_type.columns, self.task_type.rows(heads["task_type"]))
            self.table = WeightTable(blocks, MAX_FEATURES)
        except (KeyError, TypeError, ValueError) as exc:
            raise WeightFileError(f"{origin}: weight file is incomplete or malformed ({type(exc).__name__}: {exc})") from None
        if not self.calibration:
            raise WeightFileError(f"{origin}: the premium calibration table is empty")
        self.trained = document.get("trained", {})
        self.checks = document.get("checks", [])

    @staticmethod
    def _head(spec: dict, expected: type[Head]) -> Head:
        head = HEAD_KINDS[spec["kind"]](spec)
        if not isinstance(head, expected):
            raise ValueError(f"head kind {spec['kind']!r} where {expected.__name__} is needed")
        return head

    def score(self, text: str) -> tuple[dict[str, float], float]:
        """Task-type probabilities and the probability that the premium tier is needed."""
        table = self.table
        fields = table.fields(ngram_total(table, text) + table.total(marker_features(text)))
        _, logits = table.logits(fields, "task_type", self.task_type.bias)
        return self.task_type.probabilities(logits), self.premium_score(fields)

    def premium_score(self, fields: bytes) -> float:
        """P(premium needed) from a text's table fields: the word head's logit blended with the structure head's."""
        _, (z,) = self.table.logits(fields, "premium", self.premium.bias)
        if self.premium_structure is not None:
            _, (structure,) = self.table.logits(fields, "premium_structure", self.premium_structure.bias)
            z = self.premium_word_share * z + (1 - self.premium_word_share) * structure
        return sigmoid(z)

    def sensitive_score(self, text: str) -> tuple[str, float]:
        """The likeliest sensitive category and the probability that the text is sensitive at all."""
        if self.sensitive is None:
            return "none", 0.0
        # Its n-grams only: the sensitive head knows no marker, so the markers need not be looked for.
        table = self.table
        hits, logits = table.logits(table.fields(ngram_total(table, text)), "sensitive", self.sensitive.bias)
        if hits < MIN_SENSITIVE_EVIDENCE:
            return "none", 0.0  # a greeting or a single word is no evidence either way: the lexicons decide
        probabilities = self.sensitive.probabilities(logits)
        category = max((name for name in probabilities if name != "none"), key=probabilities.get)
        return category, 1.0 - probabilities.get("none", 0.0)

    def premium_threshold(self, share: float) -> float:
        """The "premium needed" threshold above which about ``share`` of typical traffic falls."""
        return threshold_for(self.calibration, share)


def read_weights(path: Path | str = WEIGHTS_FILE) -> LearnedModel:
    """Load and check a weight file; every failure is a ``WeightFileError`` that names the file."""
    path = Path(path)
    if not path.is_file():
        raise WeightFileError(f"router weight file {path} is missing: reinstall Tiergate or run `tiergate router train`")
    try:
        with gzip.open(path, "rt", encoding="utf-8") as stream:
            document = json.load(stream)
    except (OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WeightFileError(f"router weight file {path} is corrupt ({exc}): reinstall Tiergate or run "
                              "`tiergate router train`") from None
    return LearnedModel(document, str(path))


_shipped: LearnedModel | None = None


def shipped_model() -> LearnedModel:
    """The weight file inside the package, read once per process."""
    global _shipped
    if _shipped is None:
        _shipped = read_weights(WEIGHTS_FILE)
    return _shipped
