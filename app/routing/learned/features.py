"""Text -> n-gram features, the one definition shared by training and scoring.

Training (``training/train_router.py``) and the scorer must see exactly the same features, or the
shipped weights mean something else at run time; both import this module. Only the start of a long
text is read: the decision must stay under a millisecond, and a request's first paragraphs say what
it is.
"""
from __future__ import annotations

import re
from functools import lru_cache
from itertools import chain, compress
from operator import and_, not_

from app.routing.matching import PatternSet

# The start of the text that is read, in characters (about 450 tokens).
MAX_CHARS = 1_800
# Read on lower-cased text. Without IGNORECASE the scan is a third faster; the two lower-case letters
# that IGNORECASE also folds onto a-z (dotless i, long s) are listed, so the tokens are the same.
WORD = re.compile(r"[a-z0-9ıſ]+|[^\sa-z0-9ıſ]")
# Coarse size features: a one-line ask and a pasted document are routed differently.
LENGTH_BUCKETS = (8, 20, 50, 120, 300)


# What separates "a strong model is needed" beyond words: code, maths, several questions or steps,
# many constraints, a long expected answer. Each marker is one feature; counts are bucketed. Each check
# is cheap on purpose (a literal test before any regex, lower-cased text without IGNORECASE): the markers
# run on every decision.
CODE_LINE = re.compile(r"^\s*(?:def|class|import|from|function|const|let|var|public|SELECT|#include)\b", re.MULTILINE)
CODE_END = re.compile(r"[;{}]\s*$", re.MULTILINE)
CODE_CALL = re.compile(r"\w\([^()\n]*\)\s*[:{]")
OPERATOR = re.compile(r"[-+*/^=<>]")
MATH_SIGNS = ("\\frac", "\\sqrt", "sqrt", "∫", "∑", "√", "≤", "≥", "≠", "π")
CONSTRAINT = (r"\b(?:must|should|at least|at most|no more than|exactly|without|only|make sure|ensure|"
              r"do not|don't|avoid|include|each|every|in \d+ words|under \d+)\b")
LONG_ANSWER = (r"\bessay\b", r"\bdetailed\b", r"\bin[- ]depth\b", r"\bcomprehensive\b", r"\bthorough\b",
               r"\barticle\b", r"\breport\b", r"\b\d{3,} words\b", r"\bexplain why\b", r"\banaly[sz]e\b",
               r"\bcompare\b", r"\bevaluate\b", r"\bjustify\b", r"\bprove\b")
# The phrase markers are found through one literal index (an Aho-Corasick pass, then a match where a
# phrase starts), with the plain scans' results: an alternation that starts with ``\b`` is tried at
# every position, ~90 microseconds for "step" words and list lines on 1.6 KB, ~45 for the long-answer words.
PHRASES = PatternSet([("constraint", CONSTRAINT), ("steps", r"\bsteps?\b")]
                     + [("long_answer", pattern) for pattern in LONG_ANSWER], flags=0)
# A numbered or bulleted line ("1. ", "- "); without a literal, but anchored at line starts, so fast.
LIST_LINE = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s", re.MULTILINE)


def has_code(head: str) -> bool:
    return ("```" in head or CODE_LINE.search(head) is not None
            or (any(mark in head for mark in ";{}") and CODE_END.search(head) is not None)
            or ("(" in head and closes_into_block(head) and CODE_CALL.search(head) is not None))


def closes_into_block(head: str) -> bool:
    """Whether some ")" is followed (after whitespace) by ":" or "{": what ``CODE_CALL`` needs. A scan
    for ")" with ``str.find`` costs a microsecond; the regex scan ~15 per KB of prose with brackets."""
    at = head.find(")")
    while at != -1:
        after = at + 1
        while after < len(head) and head[after].isspace():
            after += 1
        if after < len(head) and head[after] in ":{":
            return True
        at = head.find(")", at + 1)
    return False


def has_math(head: str) -> bool:
    """An operator between numbers ("3 + 4", "x = 5", "2/3") or a maths sign."""
    if any(sign in head for sign in MATH_SIGNS):
        return True
    for match in OPERATOR.finditer(head):
        before = head[:match.start()].rstrip()[-2:]
        after = head[match.end():].lstrip().lstrip("(")[:1]
        if not after.isdigit() or not before:
            continue
        if before[-1].isdigit():
            return True
        if match.group() in "^=" and before[-1].isalpha() and not (len(before) > 1 and before[0].isalnum()):
            return True  # a single-letter variable: "x = 5", "n^2"
    return False


def markers(text: str) -> set[str]:
    """Structural markers of the start of ``text`` (``#`` features, shared by training and scoring)."""
    head = text[:MAX_CHARS]
    lowered = head.lower()
    found = set()
    if has_code(head):
        found.add("#code")
    if has_math(head):
        found.add("#math")
    if head.count("?") >= 2:
        found.add("#questions>=2")
    constraints = 0
    for owner, _ in PHRASES.matches(lowered, lowered):
        if owner == "constraint":
            constraints += 1
        else:
            found.add(f"#{owner}")
    if LIST_LINE.search(lowered):
        found.add("#steps")
    if constraints >= 2:
        found.add("#constraints>=2")
    if constraints >= 4:
        found.add("#constraints>=4")
    if head.count("\n") >= 5:
        found.add("#lines>=5")
    return found


@lru_cache(maxsize=256)
def words(text: str) -> tuple[str, ...]:
    """The word and punctuation tokens of the start of ``text``; cached, both feature sets read them."""
    return tuple(WORD.findall(text[:MAX_CHARS].lower()))


@lru_cache(maxsize=256)
def bigrams(text: str) -> tuple[str, ...]:
    """Neighbouring token pairs of ``words(text)``, "a b"; cached, both feature sets read them."""
    tokens = words(text)
    return tuple(map(" ".join, zip(tokens, tokens[1:])))


def clear_caches() -> None:
    """Forget every cached text (a benchmark times the features from scratch)."""
    for cached in (words, bigrams, ngrams, marker_features, features, content_features):
        cached.cache_clear()
    for clear in _text_caches:
        clear()


_text_caches: list = []


def register_text_cache(clear) -> None:
    """A cache elsewhere that is keyed by text (a model's weight sums) is cleared with these."""
    _text_caches.append(clear)


@lru_cache(maxsize=256)
def features(text: str) -> frozenset[str]:
    """Unigrams, bigrams, a length bucket and structural markers of the start of ``text``.

    The scorer reads the two parts separately (``ngrams``, ``marker_features``): the sensitive-content
    head knows no marker, so a rules-mode decision need not look for them.
    """
    return ngrams(text) | marker_features(text)


@lru_cache(maxsize=256)
def ngrams(text: str) -> frozenset[str]:
    """The unigrams and bigrams of the start of ``text``; cached, every head reads them."""
    return frozenset(chain(words(text), bigrams(text)))


@lru_cache(maxsize=256)
def marker_features(text: str) -> frozenset[str]:
    """The ``#`` features of the start of ``text``: structural markers, a length bucket, digits."""
    tokens = words(text)
    size = len(tokens)
    bucket = next((limit for limit in LENGTH_BUCKETS if size <= limit), "more")
    extra = markers(text)
    extra.add(f"#len<={bucket}")
    if any(map(str.isdigit, tokens)):
        extra.add("#digits")
    return frozenset(extra)


# Function words (English and German) and punctuation: an n-gram made only of these says how a request is
# phrased, not what it is about ("should we" is in strategy questions and in "should we call a doctor").
FUNCTION_WORDS = frozenset("""
a an the and or but if of to in on at for from with by as is are was were be been am do does did can could
should would will shall may might must i me my we us our you your he him his she her it its they them their
this that these those there here what which who whom whose when where why how not no yes so than then too
very just also about into out up down over again any some all each more most other such only own same
ich du er sie es wir ihr mein dein unser euer der die das den dem des ein eine einer einen einem und oder
aber wenn ist sind war waren bin bist sein kann können soll sollen muss müssen darf dürfen wie was wer wo
warum nicht kein keine mit von zu im in am an auf für aus bei nach über unter um noch schon auch nur
""".split()) | {"?", "!", ".", ",", ":", ";", "'", '"', "-", "(", ")"}


@lru_cache(maxsize=256)
def content_features(text: str) -> frozenset[str]:
    """The n-grams with at least one content word, without size markers: the sensitive-content head
    judges what a text is about, not its length or phrasing."""
    tokens = words(text)
    # Flags and filters run in C (``map``/``compress``): a Python loop over the tokens cost ~80 microseconds.
    function = list(map(FUNCTION_WORDS.__contains__, tokens))
    found = set(compress(tokens, map(not_, function)))
    found.update(compress(bigrams(text), map(not_, map(and_, function, function[1:]))))
    return frozenset(found)
