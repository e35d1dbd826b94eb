"""The literal index in front of the rules' regexes (``matching.PatternSet``) and the drug-name pass must
find exactly what the plain scans find: they only make the decision faster (bench/route_quality.py)."""
from __future__ import annotations

import random
import re

import pytest

from app.policy import load_policy
from app.routing.learned import features
from app.routing.matching import PatternSet
from app.routing.sensitive_lexicon import _DRUG_NAMES, LEXICON, PATTERNS, drug_names

FRAGMENTS = ["refund", "I was charged twice", "over", "however", "owe us", "log in from", "logged into my account from Kyiv",
             "200 mg", "5mg", "µg", "verstoßen", "my password is hunter2", "with pw abc", "DE44 5001 0517 5407 3249 31",
             "AKIAABCDEFGHIJKLMNOP", "sk_live_abcdefgh123", "Extract the date", "format these", "def f(x):", "```",
             "3x + 4 = 10", "no-show fee", "files.locked", "see you in court", "Über", "İstanbul", "'", "-", "\n", ".",
             "  ", "x", "Translate this", "at least", "must", "in 50 words", "we will sue", "they are going to suing",
             "such", "issue", "Step", "steps", "step-by-step", "\n1. ", "\n - ", "essay", "in-depth", "500 words",
             "Analyse", "explain why", "comprehensive", "ſ", "ı"]


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


# The learned features' markers and tokens as plain scans find them (the definitions before the index).
PLAIN_WORD = re.compile(r"[a-z0-9]+|[^\sa-z0-9]", re.IGNORECASE)
PLAIN_STEP = re.compile(r"\bstep[- ]by[- ]step\b|\bsteps?\b|^\s*(?:\d+[.)]|[-*•])\s", re.MULTILINE)
PLAIN_LONG_ANSWER = re.compile("|".join(features.LONG_ANSWER))
PLAIN_CONSTRAINT = re.compile(features.CONSTRAINT)


def test_the_learned_markers_and_tokens_are_those_of_the_plain_scans():
    for text in texts(3):
        lowered = text[:features.MAX_CHARS].lower()
        found = features.markers(text)
        assert ("#steps" in found) == bool(PLAIN_STEP.search(lowered)), text
        assert ("#long_answer" in found) == bool(PLAIN_LONG_ANSWER.search(lowered)), text
        constraints = len(PLAIN_CONSTRAINT.findall(lowered))
        assert ("#constraints>=2" in found, "#constraints>=4" in found) == (constraints >= 2, constraints >= 4), text
        assert features.words(text) == tuple(PLAIN_WORD.findall(lowered)), text


def test_a_literal_run_before_alternatives_is_looked_up_with_each_alternative():
    # " su(?:e|ing)" (the parser's form of " sue| suing") is scanned where " sue" or " suing" occurs, not at every " su".
    patterns = PatternSet([("legal", r"\b(?:i|we)(?: will)? su(?:e|ing)\b")], flags=0)
    assert patterns._automaton.exists(" sue") and patterns._automaton.exists(" suing")
    assert not patterns._automaton.exists(" su")
    assert [match.group() for _, match in patterns.matches("we will sue", "we will sue")] == ["we will sue"]
    assert patterns.matches("we will succeed", "we will succeed") == []


DIGIT_TEXTS = ["DE44 5001 0517 5407 3249 31", "de44500105175407324931", "iban: GB29NWBK60161331926819 ok",
               "x1DE44 5001 0517 5407 3249 31", "AB12 CD34 EF56 GH78", "12345 ab12 3456 7890 1234", "ab1 2345",
               "ſx12 abcd efgh ijkl", "٣٤ AB١٢ 3456 7890 1234", "no digits at all", "", "7", "AB12", "AB12AB12ABCDABCDABCD",
               "take 200 mg", "5mg twice", "1,5 mg", "x200mg", "2.5 iu", "stadium 12x", "٣ mg"]


@pytest.mark.parametrize("pattern", [r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}\b", r"[a-z]\d+x", r"ab\d{2}",
                                     r"\b[a-z]{2}\d", r"\b\d+x", r"\b\d+(?:[.,]\d+)? ?(?:mg|µg|mcg|iu)\b"])
def test_a_pattern_that_opens_with_letters_then_a_digit_is_tried_only_where_digits_start(pattern):
    """No literal to look up, but every match starts a fixed number of letters before a digit run: it is
    tried there only, and finds what a plain scan finds."""
    patterns = PatternSet([("money", pattern)])
    assert patterns._always == [] or pattern == r"ab\d{2}", patterns._always
    rng = random.Random(4)
    pieces = DIGIT_TEXTS + [" ", "12", "ab", "X", "-", "mg", " mg", "iu", ".5", "x"]
    cases = DIGIT_TEXTS + ["".join(rng.choice(pieces) for _ in range(rng.randrange(1, 8))) for _ in range(2000)]
    for text in cases:
        assert indexed(patterns, text, text.lower(), False) == plain(patterns.patterns, text, False), text
        assert indexed(patterns, text, text.lower(), True) == plain(patterns.patterns, text, True), text


@pytest.mark.parametrize("pattern", [r"\d+x", r"[a-z0-9]{2}\d", r"\w\d", r"[^a-z]\d", r"a?\d", r"[a-z]+\d", r"\B\d+x"])
def test_a_pattern_whose_start_may_be_a_digit_or_of_any_width_is_still_scanned(pattern):
    assert PatternSet([("x", pattern)])._always == [0]


def test_digit_runs_are_found_as_the_regex_finds_them():
    from app.routing.matching import DIGIT_RUN, FEW_DIGITS, digit_run_starts

    rng = random.Random(5)
    pieces = ["1", "23", "a", " ", "٣", "x9", "0", "-", "\n"]
    cases = ["", "abc", "1" * (FEW_DIGITS + 5), "a1 " * (FEW_DIGITS + 5), "١٢ 34"]
    cases += ["".join(rng.choice(pieces) for _ in range(rng.randrange(1, 30))) for _ in range(3000)]
    for text in cases:
        assert digit_run_starts(text) == [match.start() for match in DIGIT_RUN.finditer(text)], text


def test_rule_tokens_on_ascii_text_are_those_of_the_unicode_pattern():
    from app.routing.matching import TOKEN, tokens

    rng = random.Random(6)
    pieces = FRAGMENTS + ["don't", "-x", "'quoted'", "a_b", "\x1c", "\t", "Straße", "’s", "--", "__", "O'Neill", "e-mail"]
    for _ in range(3000):
        text = rng.choice(["", " ", "\n"]).join(rng.choice(pieces) for _ in range(rng.randrange(1, 10)))
        assert tokens(text) == TOKEN.findall(text.lower()), text


def test_the_code_marker_is_that_of_the_plain_scans():
    plain_code = re.compile(r"\w\([^()\n]*\)\s*[:{]")
    rng = random.Random(7)
    pieces = ["f(x)", ":", "{", ")", "(", " ", "\n", "\x1c", "\u2003", "def", "a", "if (a) {", "print(x) :", "(see above)"]
    for _ in range(4000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randrange(1, 12)))
        expected = ("```" in text or features.CODE_LINE.search(text) is not None
                    or (any(mark in text for mark in ";{}") and features.CODE_END.search(text) is not None)
                    or plain_code.search(text) is not None)
        assert features.has_code(text) == expected, text
