"""Keyword and phrase matching for the rules, fast enough for a sub-millisecond decision.

A big alternation regex with word-boundary look-arounds costs hundreds of microseconds on a page of
text. Instead the text is split into word tokens once, its 1..N-word phrases are looked up in one
dict built from every keyword list of the policy, and only the few regex patterns run as regexes.

A regex scan costs ~15 microseconds per KB of text whatever it looks for, so the patterns are
prefiltered too: each pattern's required literals (strings every match contains) go into one
Aho-Corasick automaton, one pass over the text names the literals present, and only the patterns whose
literals appeared are scanned (``PatternSet``).
"""
from __future__ import annotations

import re
from collections import defaultdict
from functools import lru_cache
from re import _parser as regex_parser  # the stdlib's own regex parser (Python 3.11+)

import ahocorasick

from app.policy.schema import KeywordSet

TOKEN = re.compile(r"[\w'’-]+|[^\w\s]")
# The same tokens on ASCII text (lower-cased: no A-Z), a third faster: explicit ranges instead of the
# Unicode word class. An apostrophe or hyphen always starts a word run, so the second branch never sees one.
ASCII_TOKEN = re.compile(r"[a-z0-9_'’-]+|[^\sa-z0-9_'’-]")


def tokens(text: str) -> list[str]:
    lowered = text.lower()
    return (ASCII_TOKEN if lowered.isascii() else TOKEN).findall(lowered)


def leading_literals(tree) -> frozenset[str] | None:
    """Strings one of which every match of the parsed pattern ``tree`` starts with, or None.

    Zero-width assertions at the start (``\\b``) are stepped over: the pattern itself is still run at
    each place one of these strings starts, so they are checked there.
    """
    prefix = ""
    for op, arg in tree:
        if op is regex_parser.AT and not prefix:
            continue
        if op is regex_parser.LITERAL:
            prefix += chr(arg)
            continue
        if prefix:
            break
        if op is regex_parser.SUBPATTERN:
            return leading_literals(arg[-1])
        if op is regex_parser.BRANCH:
            branches = [leading_literals(branch) for branch in arg[1]]
            return frozenset().union(*branches) if all(branches) else None
        return None
    return frozenset([prefix]) if prefix else None


def required_literals(tree) -> frozenset[str] | None:
    """Strings of which every match of the parsed pattern ``tree`` contains one, or None when none are known."""

    def best(items: list[frozenset[str]]) -> frozenset[str] | None:
        good = [item for item in items if usable(item)]  # the caller checks the letters
        return max(good, key=lambda item: (min(map(len, item)), -len(item)), default=None)

    candidates, run = [], ""
    for op, arg in tree:
        if op is regex_parser.LITERAL:
            run += chr(arg)
            continue
        if run:
            candidates.append(frozenset([run]))
            # The parser factors a shared start out of alternatives (" sue| suing" -> " su(?:e|ing)"):
            # the run and each alternative's start, together, are rarer than the run alone.
            starts = leading_literals([(op, arg)]) if op in (regex_parser.BRANCH, regex_parser.SUBPATTERN) else None
            if starts:
                candidates.append(frozenset(run + start for start in starts))
            run = ""
        if op is regex_parser.SUBPATTERN:
            inner = required_literals(arg[-1])
            if inner:
                candidates.append(inner)
        elif op is regex_parser.BRANCH:
            branches = [required_literals(branch) for branch in arg[1]]
            if all(branches):
                candidates.append(frozenset().union(*branches))
        elif op in (regex_parser.MAX_REPEAT, regex_parser.MIN_REPEAT) and arg[0] >= 1:
            inner = required_literals(arg[2])
            if inner:
                candidates.append(inner)
    if run:
        candidates.append(frozenset([run]))
    return best(candidates)


DIGIT_RUN = re.compile(r"(?<!\d)\d")  # the first digit of each run of digits
FEW_DIGITS = 64  # past this many ASCII digits one regex pass is cheaper than a find per digit


@lru_cache(maxsize=256)
def digit_run_starts(text: str) -> list[int]:
    """Where each run of digits starts, as ``DIGIT_RUN`` finds it (cached: the policy's sensitive lists
    and its task-type patterns read the same text in one decision; the list is not to be changed).

    A regex pass costs ~25 microseconds per KB whatever it finds; ``str.find`` for each of the ten
    ASCII digits costs about one, and most requests hold few digits. Other Unicode digits (``\\d``
    matches them too) take the regex.
    """
    if not text.isascii():
        return [match.start() for match in DIGIT_RUN.finditer(text)]
    positions: list[int] = []
    for digit in "0123456789":
        at = text.find(digit)
        while at != -1:
            positions.append(at)
            if len(positions) > FEW_DIGITS:
                return [match.start() for match in DIGIT_RUN.finditer(text)]
            at = text.find(digit, at + 1)
    digits = set(positions)
    return sorted(position for position in positions if position - 1 not in digits)


def digit_offset(tree) -> int | None:
    """``k`` when every match of the parsed pattern starts ``k`` characters before the first digit of a
    run of digits, or None.

    That holds when the pattern opens (after zero-width assertions) with ``k > 0`` characters of fixed
    width that can never be digits, then a digit: "\\b[A-Z]{2}\\d{2}" (an IBAN) has ``k = 2``; or with
    a word boundary right before a digit (``k = 0``: "\\b\\d+ ?mg"). Such a pattern is tried only where
    a digit run starts, like a pattern with a leading literal, instead of being scanned over the text
    (when it has no literal at all, or when a literal it merely contains is present).
    """
    width, boundary = 0, False
    for op, arg in tree:
        if op is regex_parser.AT and not width:
            # "\\b" right before a digit: the match starts a run (inside a run there is no word boundary).
            boundary = boundary or arg is regex_parser.AT_BOUNDARY
            continue
        count, item = 1, (op, arg)
        if op is regex_parser.MAX_REPEAT or op is regex_parser.MIN_REPEAT:
            low, high, inner = arg
            if len(inner) != 1:
                return None
            if is_digit_class(inner[0]):
                return width if (width or boundary) and low >= 1 else None
            if low != high:
                return None
            count, item = low, inner[0]
        if is_digit_class(item):
            return width if width or boundary else None
        if not never_digit(item):
            return None
        width += count
    return None


def is_digit_class(item) -> bool:
    op, arg = item
    return op is regex_parser.IN and arg == [(regex_parser.CATEGORY, regex_parser.CATEGORY_DIGIT)]


def never_digit(item) -> bool:
    """A one-character item that cannot match any digit (a plain literal, or a set of non-digit ranges)."""
    op, arg = item
    if op is regex_parser.LITERAL:
        return not chr(arg).isdigit()
    if op is not regex_parser.IN:
        return False
    for kind, value in arg:
        if kind is regex_parser.LITERAL and not chr(value).isdigit():
            continue
        # Unicode digits outside ASCII sit far above these ranges; letters' ranges hold none.
        if kind is regex_parser.RANGE and (value[1] < ord("0") or value[0] > ord("9")) and value[1] < 0x660:
            continue
        return False
    return True


def usable(literals: frozenset[str] | None, ascii_only: bool = False) -> bool:
    """Literals worth a look-up: at least two characters each (and plain ASCII for a case-insensitive
    pattern: lower-casing other letters may not give what the regex folds them to)."""
    return bool(literals) and all(len(literal) >= 2 and (literal.isascii() or not ascii_only) for literal in literals)


class PatternSet:
    """Regex patterns, each owned by a name, run only where the text holds one of their literals.

    One Aho-Corasick pass over the lower-cased text finds every literal. A pattern whose matches all
    start with one of its literals ("\\bowe[sd]? (?:us|me)") is only tried where such a literal
    starts (``pattern.match`` there: microseconds); a pattern that merely contains one is scanned when
    one is present; a pattern with neither is always scanned. The results are the plain scans' own:
    the leftmost match first, non-overlapping. Patterns are case-insensitive, or written in lower case
    for lower-cased text (``flags=0``).
    """

    def __init__(self, patterns: list[tuple[str, str]], flags: int = re.IGNORECASE):
        self.patterns = [(owner, re.compile(pattern, flags)) for owner, pattern in patterns]
        self._always: list[int] = []
        self._digit_anchored: dict[int, int] = {}  # pattern -> characters before the digit run it starts at
        self._digit_offsets: dict[int, int] = {}  # the same for patterns looked up by a literal they contain
        ascii_only = bool(flags & re.IGNORECASE)
        entries: dict[str, list[tuple[int, bool]]] = defaultdict(list)  # literal -> [(pattern, anchored)]
        for index, (_, pattern) in enumerate(patterns):
            tree = regex_parser.parse(pattern, flags)
            # Where the pattern starts (a try there costs a microsecond), unless that is a two-letter
            # string found everywhere ("in", "at") and a longer one it must contain is known.
            leading, required = leading_literals(tree), required_literals(tree)
            if not usable(leading, ascii_only) or (min(map(len, leading)) < 3 and usable(required, ascii_only)
                                                   and min(map(len, required)) > min(map(len, leading))):
                leading = None
            literals = leading or required
            offset = None if leading else digit_offset(tree)
            if not usable(literals, ascii_only):
                if offset is None:
                    self._always.append(index)
                else:
                    self._digit_anchored[index] = offset
                continue
            if offset is not None:
                self._digit_offsets[index] = offset  # when its literal is present: tried at digit runs
            for literal in literals:
                entries[literal.lower()].append((index, literals is leading))
        self._automaton = ahocorasick.Automaton()
        for literal, owners in entries.items():
            self._automaton.add_word(literal, (len(literal), owners))
        if entries:
            self._automaton.make_automaton()

    def matches(self, text: str, lowered: str, first_only: bool = False) -> list[tuple[str, re.Match]]:
        """``(owner, match)`` pairs in pattern order: each pattern's first match, or all of them."""
        scan = set(self._always)
        starts: dict[int, set[int]] = defaultdict(set)
        aligned = len(lowered) == len(text)  # lower() can lengthen a few non-ASCII letters
        if len(self._automaton):
            for end, (length, owners) in self._automaton.iter(lowered):
                for index, anchored in owners:
                    if anchored and aligned:
                        starts[index].add(end - length + 1)
                    else:
                        scan.add(index)
        anchored_by_digits = dict(self._digit_anchored)
        for index in [index for index in scan if index in self._digit_offsets]:
            scan.discard(index)  # its literal is present: try it where a digit run starts, not everywhere
            anchored_by_digits[index] = self._digit_offsets[index]
        if anchored_by_digits:
            runs = digit_run_starts(text)  # positions in ``text``, where the patterns run
            for index, offset in anchored_by_digits.items():
                at = {run - offset for run in runs if run >= offset}
                if at:
                    starts[index] = at
        found = []
        for index in sorted(scan | starts.keys()):
            owner, pattern = self.patterns[index]
            if index in scan:
                hits = [pattern.search(text)] if first_only else pattern.finditer(text)
                found.extend((owner, match) for match in hits if match)
                continue
            reached = 0
            for start in sorted(starts[index]):
                match = pattern.match(text, start) if start >= reached else None
                if match:
                    found.append((owner, match))
                    if first_only:
                        break
                    reached = match.end()
        return found


class PhraseMatcher:
    """Finds which keyword sets (by name) a text hits, and with which words."""

    def __init__(self, keyword_sets: dict[str, KeywordSet]):
        self._names = list(keyword_sets)
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
        self._patterns = PatternSet([(name, pattern) for name, keywords in keyword_sets.items()
                                     for pattern in keywords.patterns])

    def match(self, text: str, words: list[str] | None = None) -> dict[str, tuple[list[str], list[str]]]:
        """``{name: (keyword hits, pattern hits)}`` for every set with at least one hit."""
        words = tokens(text) if words is None else words
        hits: dict[str, set[str]] = defaultdict(set)
        joined = None  # " w1 w2 ... ": tokens hold no spaces, so " a b " in it is the phrase at a token start
        for word in self._by_first_word.keys() & set(words):
            for phrase_words, phrase, names in self._by_first_word[word]:
                if len(phrase_words) > 1:
                    joined = joined or f" {' '.join(words)} "
                    if f" {phrase} " not in joined:
                        continue
                for name in names:
                    hits[name].add(phrase)
        pattern_hits: dict[str, list[str]] = defaultdict(list)
        for owner, match in self._patterns.matches(text, text.lower()):
            if match.group(0) not in pattern_hits[owner]:
                pattern_hits[owner].append(match.group(0))
        # In the order the sets were given: a tie between two task types goes the same way in every process.
        return {name: (sorted(hits.get(name, ())), pattern_hits.get(name, []))
                for name in self._names if name in hits or pattern_hits.get(name)}
