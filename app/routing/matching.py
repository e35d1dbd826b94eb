"""Keyword and phrase matching for the rules, fast enough for a sub-millisecond decision.

A big alternation regex with word-boundary look-arounds costs hundreds of microseconds on a page of
text. Instead the text is split into word tokens once, its 1..N-word phrases are looked up in one
dict built from every keyword list of the policy, and only the few regex patterns run as regexes.
"""
from __future__ import annotations

import re
from collections import defaultdict

from app.policy.schema import KeywordSet

TOKEN = re.compile(r"[\w'’-]+|[^\w\s]")


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text.lower())


class PhraseMatcher:
    """Finds which keyword sets (by name) a text hits, and with which words."""

    def __init__(self, keyword_sets: dict[str, KeywordSet]):
        # first word -> [(whole phrase as words, phrase text, set names)]
        self._by_first_word: dict[str, list[tuple[list[str], str, list[str]]]] = defaultdict(list)
        phrases: dict[str, list[str]] = defaultdict(list)
        for name, keywords in keyword_sets.items():
            for keyword in keywords.keywords:
                words = tokens(keyword)
                if words:
                    phrases[" ".join(words)].append(name)
        for phrase, names in phrases.items():
            words = phrase.split(" ")
            self._by_first_word[words[0]].append((words, phrase, names))
        # Each pattern on its own: one big alternation tries every branch at every position, which made
        # it slower than the separate scans (0.37 vs 0.29 ms on 1.6 KB of text with the default lists).
        self._patterns = [(name, re.compile(pattern, re.IGNORECASE))
                          for name, keywords in keyword_sets.items() for pattern in keywords.patterns]

    def match(self, text: str, words: list[str] | None = None) -> dict[str, tuple[list[str], list[str]]]:
        """``{name: (keyword hits, pattern hits)}`` for every set with at least one hit."""
        words = tokens(text) if words is None else words
        hits: dict[str, set[str]] = defaultdict(set)
        by_first_word = self._by_first_word
        for index, word in enumerate(words):
            candidates = by_first_word.get(word)
            if candidates is None:
                continue
            for phrase_words, phrase, names in candidates:
                if len(phrase_words) == 1 or words[index:index + len(phrase_words)] == phrase_words:
                    for name in names:
                        hits[name].add(phrase)
        pattern_hits: dict[str, list[str]] = defaultdict(list)
        for owner, pattern in self._patterns:
            for match in pattern.finditer(text):
                if match.group(0) not in pattern_hits[owner]:
                    pattern_hits[owner].append(match.group(0))
        return {name: (sorted(hits.get(name, ())), pattern_hits.get(name, []))
                for name in set(hits) | {owner for owner, found in pattern_hits.items() if found}}
