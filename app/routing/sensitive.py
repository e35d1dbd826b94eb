"""Sensitive content: the policy's word lists, the built-in lexicons and the learned classifier, together.

A miss costs a customer (a refund dispute or a pasted password answered by the cheapest model with no
review); a false alarm costs a minute of review. So a text counts as sensitive when any of the three
says so: the operator's ``rules.sensitive.categories`` (exact keywords and patterns), the built-in
English/German phrase lexicons of ``sensitive_lexicon.py`` (paraphrase, drug names, credentials), or
the classifier head shipped in the router's weight file (n-gram logistic regression, threshold chosen
for recall on held-out templates). Every source names its evidence for the reason trail.
"""
from __future__ import annotations

from app.policy.schema import Policy
from app.routing.matching import PhraseMatcher
from app.routing.sensitive_lexicon import lexicon_hits


class SensitiveDetector:
    """Compiled once per policy; ``categories`` is pure and fast (a few regex scans and one linear head)."""

    def __init__(self, policy: Policy, model=None):
        self._policy_lists = PhraseMatcher(policy.rules.sensitive.categories)
        self._model = model

    @property
    def model(self):
        if self._model is None:
            # Imported here: the learned package imports the rules module, which builds this detector.
            from app.routing.learned.model import shipped_model
            self._model = shipped_model()
        return self._model

    def categories(self, text: str, words: list[str] | None = None) -> dict[str, list[str]]:
        """``{category: [evidence]}``: every category that the lists, the lexicons or the classifier found."""
        found: dict[str, list[str]] = {category: hits + pattern_hits for category, (hits, pattern_hits)
                                       in self._policy_lists.match(text, words).items()}
        for category, hits in lexicon_hits(text).items():
            found.setdefault(category, [])
            found[category].extend(hit for hit in hits if hit.lower() not in found[category])
        model = self.model
        category, probability = model.sensitive_score(text)
        if probability >= model.sensitive_threshold:
            found.setdefault(category, []).append(f"classifier p={probability:.2f}")
        return found
