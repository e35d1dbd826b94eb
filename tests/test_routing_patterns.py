"""The literal index in front of the rules' regexes (``matching.PatternSet``) and the drug-name pass must
find exactly what the plain scans find: they only make the decision faster (bench/route_quality.py)."""
from __future__ import annotations

import random
import re

import pytest

from app.policy import load_policy
from app.routing.matching import PatternSet
from app.routing.sensitive_lexicon import _DRUG_NAMES, LEXICON, PATTERNS, drug_names

FRAGMENTS = ["refund", "I was charged twice", "over", "however", "owe us", "log in from", "logged into my account from Kyiv",
             "200 mg", "5mg", "µg", "verstoßen", "my password is hunter2", "with pw abc", "DE44 5001 0517 5407 3249 31",
             "AKIAABCDEFGHIJKLMNOP", "sk_live_abcdefgh123", "Extract the date", "format these", "def f(x):", "```",
             "3x + 4 = 10", "no-show fee", "files.locked", "see you in court", "Über", "İstanbul", "'", "-", "\n", ".",
             "  ", "x", "Translate this", "at least", "must", "in 50 words"]


def texts(seed: int, count: int = 400) -> list[str]:
    rng = random.Random(seed)
    made = []
    for _ in range(count):
        parts = [rng.choice(FRAGMENTS) for _ in range(rng.randrange(1, 12))]
        joined = rng.choice(["", " ", " ", ", "]).join(parts)
        made.append(joined.upper() if rng.random() < 0.1 else joined)
    return made


def plain(patterns: list[tuple[str, re.Pattern]], text: str, first_only: bool) -> list[tuple[str, tuple[int, int]]]:
    found = []
    for owner, pattern in patterns:
        matches = [pattern.search(text)] if first_only else list(pattern.finditer(text))
        found.extend((owner, match.span()) for match in matches if match)
    return found


def indexed(patterns: PatternSet, text: str, lowered: str, first_only: bool) -> list[tuple[str, tuple[int, int]]]:
    return [(owner, match.span()) for owner, match in patterns.matches(text, lowered, first_only)]


def test_the_lexicon_index_finds_what_every_pattern_scanned_alone_finds():
    lexicon = PatternSet([(category, pattern) for category, patterns in PATTERNS.items() for pattern in patterns], flags=0)
    assert len(lexicon._always) < 3, "nearly every built-in pattern has literals to look up"
    for text in texts(1):
        lowered = text.lower()
        assert indexed(lexicon, lowered, lowered, True) == plain(lexicon.patterns, lowered, True), text
        assert indexed(LEXICON, lowered, lowered, False) == plain(LEXICON.patterns, lowered, False), text


@pytest.mark.parametrize("lists", ["sensitive", "task_types"])
def test_the_policys_case_insensitive_patterns_find_what_finditer_finds(lists):
    policy = load_policy()
    sets = (policy.rules.sensitive.categories if lists == "sensitive"
            else {name: task.detect for name, task in policy.task_types.items()})
    patterns = PatternSet([(name, pattern) for name, keywords in sets.items() for pattern in keywords.patterns])
    assert patterns.patterns, "the default policy has patterns to check"
    for text in texts(2):
        assert indexed(patterns, text, text.lower(), False) == plain(patterns.patterns, text, False), text


def test_drug_names_are_whole_words_as_a_word_split_finds_them():
    words = re.compile(r"[a-zäöüß][a-zäöüß']*")
    single = {name for name in _DRUG_NAMES if " " not in name}
    multiword = [name for name in _DRUG_NAMES if " " in name]
    rng = random.Random(3)
    pieces = list(_DRUG_NAMES) + ["x", "'", "''", " ", "-", "ä", "5", "o'", "'s", ".", "ß", "mg"]
    for _ in range(5000):
        parts = [rng.choice(pieces) for _ in range(rng.randrange(1, 6))]
        text = rng.choice(["", " "]).join(parts)
        expected = [word for word in dict.fromkeys(words.findall(text)) if word in single]
        expected += [name for name in multiword if name in text]
        assert drug_names(text) == expected, text


def test_a_tie_between_task_types_goes_the_same_way_in_every_process():
    """Two task types with equal keyword scores: the policy's order decides, not the process's string hashes
    (each worker process has its own hash seed)."""
    import subprocess
    import sys

    script = ("from app.policy import load_policy; from app.routing import RulesRouter; "
              "print(RulesRouter(load_policy()).detect_task_type('Write a function to find the majority element "
              "in a given integer array using the Boyer-Moore Voting Algorithm.').task_type)")
    answers = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                              env={"PYTHONHASHSEED": str(seed), "PATH": ""}).stdout.strip() for seed in range(6)}
    assert len(answers) == 1, answers
