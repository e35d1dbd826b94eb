"""The shipped weight file and its two heads, scored in plain Python.

A head is a linear model over the n-gram features of ``features.py``: every feature it knows counts
``1/sqrt(n)`` (n = how many of its features the text has), so a long text does not shout louder than a
short one. ``softmax`` heads name one of several classes (the task type); ``logistic`` heads give one
probability (premium needed). The plugin shape is the routers' own: a base class with one abstract
method and a registry keyed by the ``kind`` written in the weight file.

The file is gzip JSON: ``{"format": 1, "heads": {name: {kind, bias, weights, ...}}, "calibration":
{...}, "checks": [...], "trained": {...}}``. A missing, unreadable or inconsistent file raises
``WeightFileError`` naming the file and what is wrong with it.
"""
from __future__ import annotations

import gzip
import json
import math
from abc import ABC, abstractmethod
from pathlib import Path

from app.errors import ConfigError
from app.routing.learned.calibration import threshold_for
from app.routing.learned.features import FUNCTION_WORDS, content_features, features

WEIGHTS_FILE = Path(__file__).with_name("weights.json.gz")
FORMAT = 1
# Known n-grams the sensitive-content head needs before it may flag a text.
MIN_SENSITIVE_EVIDENCE = 3


class WeightFileError(ConfigError):
    """The learned router's weight file is missing, unreadable or not in the expected shape."""


def is_marker(feature: str) -> bool:
    """A structural marker ("#code", "#len<=50"), not the token "#" or a bigram that starts with it."""
    return feature.startswith("#") and len(feature) > 1 and " " not in feature


class Head(ABC):
    """One linear head over the shared features."""

    def __init__(self, spec: dict):
        self.weights: dict = spec["weights"]
        self.known = self.weights.keys()  # ``found & self.known``: the set intersection runs in C
        self.bias = spec["bias"]

    @abstractmethod
    def score(self, found: set[str]):
        """The head's probability (or class probabilities) for a text's feature set."""


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


class LogisticHead(Head):
    def logit(self, found: set[str]) -> float:
        hits = self.known & found
        return self.bias + (sum(map(self.weights.__getitem__, hits)) / math.sqrt(len(hits)) if hits else 0.0)

    def score(self, found: set[str]) -> float:
        return sigmoid(self.logit(found))


class SoftmaxHead(Head):
    def __init__(self, spec: dict):
        super().__init__(spec)
        self.classes: list[str] = spec["classes"]
        if len(self.bias) != len(self.classes):
            raise ValueError(f"{len(self.bias)} biases for {len(self.classes)} classes")

    def score(self, found: set[str]) -> dict[str, float]:
        return self.probabilities(list(map(self.weights.__getitem__, self.known & found)))

    def probabilities(self, hits: list) -> dict[str, float]:
        """Class probabilities from the weight rows of the known features a text has."""
        if hits:
            scale = 1.0 / math.sqrt(len(hits))
            # zip(*hits) walks the classes' columns in C: several times faster than a loop per weight.
            logits = [bias + scale * sum(column) for bias, column in zip(self.bias, zip(*hits))]
        else:
            logits = list(self.bias)
        top = max(logits)
        exps = [math.exp(value - top) for value in logits]
        norm = sum(exps)
        return {name: value / norm for name, value in zip(self.classes, exps)}


HEAD_KINDS: dict[str, type[Head]] = {"logistic": LogisticHead, "softmax": SoftmaxHead}


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
            # The sensitive head is trained on content n-grams only. When its vocabulary holds no n-gram
            # of function words alone and no marker, intersecting it with all of a text's features finds
            # the same hits as with its content features, and the decision has those cached already.
            self._sensitive_reads_all_features = bool(sensitive) and not any(
                is_marker(feature) or all(word in FUNCTION_WORDS for word in feature.split(" "))
                for feature in self.sensitive.known)
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
        found = features(text)
        return self.task_type.score(found), self.premium_score(found)

    def premium_score(self, found: frozenset[str]) -> float:
        """P(premium needed): the word head's logit blended with the structure head's."""
        z = self.premium.logit(found)
        if self.premium_structure is not None:
            # The structure head knows only ``#`` features: it reads the markers out of the whole set.
            z = self.premium_word_share * z + (1 - self.premium_word_share) * self.premium_structure.logit(found)
        return sigmoid(z)

    def sensitive_score(self, text: str) -> tuple[str, float]:
        """The likeliest sensitive category and the probability that the text is sensitive at all."""
        if self.sensitive is None:
            return "none", 0.0
        head = self.sensitive
        # One intersection: the weights are mostly out of cache.
        known = head.known & (features(text) if self._sensitive_reads_all_features else content_features(text))
        if len(known) < MIN_SENSITIVE_EVIDENCE:
            return "none", 0.0  # a greeting or a single word is no evidence either way: the lexicons decide
        probabilities = head.probabilities(list(map(head.weights.__getitem__, known)))
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
