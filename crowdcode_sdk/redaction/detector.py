"""Finding secrets in text: detect-secrets' plugins plus :mod:`.patterns` where they fall short.

The detector returns spans (start, end, category) rather than rewritten text, because callers
mask differently: edit streams need the same length in UTF-16 units (so that later offsets stay
valid), screens need the same width. detect-secrets plugins yield secret *values*; their spans are
found again in the line. No plugin's ``verify`` is ever called: nothing goes to the network.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import re2  # type: ignore[import-untyped]
from detect_secrets.filters.heuristic import is_potential_uuid, is_sequential_string, is_templated_secret
from detect_secrets.plugins import keyword as ds_keyword
from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString, HexHighEntropyString

from .key_blocks import key_blocks
from .patterns import (
    ASSIGNMENT,
    PLUGINS,
    RULES,
    SECRET_WORD,
    TOKEN,
    assignment_value_is_secret,
    ignores_case,
    is_digest,
    looks_random,
    needles,
    needles_of_all,
)


@dataclass(frozen=True, slots=True)
class Finding:
    """``text[start:end]`` (Python indices) is a secret of ``category``."""

    start: int
    end: int
    category: str

    def shifted(self, by: int) -> Finding:
        return Finding(self.start + by, self.end + by, self.category)


_ENTROPY_PLUGINS = (Base64HighEntropyString(limit=4.5), HexHighEntropyString(limit=3.0))
_KEYWORD = ds_keyword.KeywordDetector()
_KEYWORD_MAPS = (ds_keyword.QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP, ds_keyword.CONFIG_DENYLIST_REGEX_TO_GROUP)

MAX_LINE = 8192
"""Longer lines (minified code, base64 blobs) are scanned in overlapping windows of this size."""


def _occurrences(line: str, value: str) -> Iterator[tuple[int, int]]:
    start = line.find(value)
    while start >= 0 and value:
        yield start, start + len(value)
        start = line.find(value, start + 1)


def _plausible(value: str) -> bool:
    return not (is_sequential_string(value) or is_potential_uuid(value) or is_templated_secret(value))


def _needle_table() -> tuple[tuple[tuple[str, int], ...], int]:
    """Which detectors each needle lets run, as bits (``RULES``, then ``PLUGINS``, then the
    assignment and keyword detectors), and the bits of those without needles, which always run.
    One ``in`` per distinct needle decides for all of them, instead of a regex search each."""
    detectors = [
        *(needles(rule.regex) for rule in RULES),
        *(needles_of_all(plugin.denylist) for _, plugin in PLUGINS),  # type: ignore[attr-defined]
        needles(ASSIGNMENT),
        needles_of_all(regex for denylist in _KEYWORD_MAPS for regex in denylist),
    ]
    table: dict[str, int] = {}
    always = 0
    for bit, required in enumerate(detectors):
        if required is None:
            always |= 1 << bit
        for needle in required or ():
            table[needle] = table.get(needle, 0) | 1 << bit
    return tuple(table.items()), always


_NEEDLES, _ALWAYS = _needle_table()
_ASSIGNMENT_BIT = len(RULES) + len(PLUGINS)
_KEYWORD_BIT = _ASSIGNMENT_BIT + 1


_WORD = r"[\p{L}\p{N}\p{M}_]"
_SPACE = r"[\s\v\p{Z}\x1c-\x1f\x85]"
r"""Python's ``\w`` and ``\s`` (Unicode) as RE2 spells them (its own are ASCII): the gate must
find whatever the detectors' Python regexes find."""


def _gate() -> Any:
    """One RE2 regex that finds something in every text where any detector can find a secret,
    and in few others: one pass over a whole chunk of terminal output, or a line, rejects it.

    Each detector contributes what every match of it contains: its needles (:func:`.needles`);
    for the two that name a secret by a word, the word followed by what must follow it
    (``password`` alone is in "3 passed", ``password =`` is not); without needles, its own
    regex. The entropy rules need a quoted run of 16 or an unbroken run of 32 token characters.
    The pieces have no anchors and no lookarounds, so a match in a line is a match in any text
    that holds the line. (``tests/test_redaction.py`` draws text from every detector's regexes
    and checks that the gate finds it.)

    RE2 (google-re2) runs the alternation as one automaton, in time linear in the text; Python's
    ``re`` tries each of its ~150 branches at every position, 1000 times as slow on a chunk."""
    exact: set[str] = set()
    folded: set[str] = set()
    for regex in _DETECTOR_REGEXES:
        found = needles(regex, fold=False)
        (folded if ignores_case(regex) else exact).update(found or ())
    deny = ds_keyword.DENYLIST_REGEX
    pieces = [
        "(?i:" + "|".join(map(re.escape, sorted(folded, key=len, reverse=True))) + ")",
        "|".join(map(re.escape, sorted(exact, key=len, reverse=True))),
        # ASSIGNMENT: the secret word, the rest of the name, then the assignment sign.
        rf"(?i:{SECRET_WORD})[A-Za-z0-9_\-.]*[\"']?{_SPACE}*[:=]",
        # detect-secrets' keyword detector: the denylisted word, then an assignment, a comparison
        # or (C's ``char password[] = "…";`` and Go's forms) a quote after one token.
        rf"(?i:{deny}){_WORD}*(?:[\]'\"]{{0,2}}{_SPACE}*[:=!]|\S*{_SPACE}*['\"`])",
        rf"[!=]{{2}}{_SPACE}*{_WORD}*(?i:{deny})",
        # the entropy plugins (a quoted value of 16 or more) and TOKEN (an unquoted one of 32)
        r"['\"][A-Za-z0-9+/\\\-_=]{16}",
        r"[A-Za-z0-9+/_\-]{32}",
        *(_as_re2(regex) for regex in _UNNEEDLED),
    ]
    return re2.compile("|".join(piece for piece in pieces if piece.strip("(?i:)")))


def _as_re2(regex: re.Pattern[str]) -> str:
    """A needle-less detector's regex for the gate, or ``.`` (any character: the gate then lets
    every line through) when it uses what RE2 reads otherwise than Python."""
    pattern = regex.pattern.replace(r"\d", r"\p{Nd}")
    if re.search(r"\\[wWsSbBDAZ0-9]|\(\?[<=!P]|[\^$]", pattern):
        return "."
    return f"(?i:{pattern})" if regex.flags & re.IGNORECASE else f"(?:{pattern})"


_DETECTOR_REGEXES = (
    *(rule.regex for rule in RULES),
    *(regex for _, plugin in PLUGINS for regex in plugin.denylist),  # type: ignore[attr-defined]
)
"""The regexes of the provider formats (the assignment and keyword detectors have their own
pieces in the gate, the entropy rules theirs)."""
_UNNEEDLED = tuple(regex for regex in _DETECTOR_REGEXES if needles(regex) is None)
_GATE = _gate()


def maybe_secret(text: str) -> bool:
    """False only when no detector can find anything in any line of ``text`` (:func:`_gate`).
    A text RE2 cannot take (a lone surrogate half, as a shadow document holds an emoji's) may."""
    try:
        return _GATE.search(text) is not None
    except UnicodeEncodeError:
        return True


def _needle_bits() -> tuple[re.Pattern[str], dict[str, int]]:
    """The needles found in a case-folded line, and the detectors each lets run: at every
    position, the longest needle that starts there, whose bits include those of every needle
    it contains (so a shorter one hidden inside it, ``sk-`` in ``sk-proj-``, still counts)."""
    table = dict(_NEEDLES)
    bits = {n: functools.reduce(operator.or_, (b for m, b in table.items() if m in n)) for n in table}
    longest_first = sorted(table, key=len, reverse=True)
    return re.compile("(?=(" + "|".join(map(re.escape, longest_first)) + "))"), bits


_NEEDLE_AT, _NEEDLE_BITS = _needle_bits()


@functools.lru_cache(maxsize=1 << 16)
def _scan_line(line: str) -> tuple[Finding, ...]:
    """Findings in one line, in priority order (provider formats first, entropy last). A
    detector runs only when the line holds what each of its matches needs (:mod:`.patterns`:
    the literal needles of a rule or plugin, the word of the assignment and keyword detectors)."""
    if len(line) < 8 or not maybe_secret(line):
        return ()
    found: list[Finding] = []
    run = _ALWAYS
    for needle in set(_NEEDLE_AT.findall(line.casefold())):
        run |= _NEEDLE_BITS[needle]
    for bit, rule in enumerate(RULES):
        if run >> bit & 1:
            for match in rule.regex.finditer(line):
                group = next((g for g in range(1, (match.lastindex or 0) + 1) if match.group(g)), 0)
                found.append(Finding(match.start(group), match.end(group), rule.category))
    for bit, (category, plugin) in enumerate(PLUGINS, start=len(RULES)):
        if run >> bit & 1:
            for value in set(plugin.analyze_string(line)):
                found.extend(Finding(s, e, category) for s, e in _occurrences(line, value))
    if run >> _ASSIGNMENT_BIT & 1:
        for match in ASSIGNMENT.finditer(line):
            group = next(g for g in (1, 2, 3) if match.group(g) is not None)
            if assignment_value_is_secret(match.group(group), quoted=group != 3):
                found.append(Finding(match.start(group), match.end(group), "password_assignment"))
    if run >> _KEYWORD_BIT & 1:
        for denylist in _KEYWORD_MAPS:
            for value in set(_KEYWORD.analyze_string(line, denylist)):
                value = value.strip("'\"")
                quoted = f'"{value}"' in line or f"'{value}'" in line
                if len(value) >= 4 and _plausible(value) and assignment_value_is_secret(value, quoted=quoted):
                    found.extend(Finding(s, e, "password_assignment") for s, e in _occurrences(line, value))
    for plugin in _ENTROPY_PLUGINS:
        for value in set(plugin.analyze_string(line)):
            if len(value) >= 16 and _plausible(value) and looks_random(value):
                found.extend(
                    Finding(s, e, "high_entropy") for s, e in _occurrences(line, value) if not is_digest(line, s)
                )
    for match in TOKEN.finditer(line):
        if looks_random(match.group(1)) and _plausible(match.group(1)) and not is_digest(line, match.start(1)):
            found.append(Finding(match.start(1), match.end(1), "high_entropy"))
    return tuple(found)


def merge(findings: list[Finding]) -> list[Finding]:
    """Overlapping findings become one, named by the category listed first (the most specific)."""
    if not findings:
        return []
    rank = {id(f): i for i, f in enumerate(findings)}
    ordered = sorted(findings, key=lambda f: (f.start, -f.end))
    merged: list[Finding] = []
    best: list[int] = []
    for f in ordered:
        if merged and f.start < merged[-1].end:
            last = merged[-1]
            category = last.category if best[-1] <= rank[id(f)] else f.category
            best[-1] = min(best[-1], rank[id(f)])
            merged[-1] = Finding(last.start, max(last.end, f.end), category)
        else:
            merged.append(f)
            best.append(rank[id(f)])
    return merged


def find_secrets(text: str) -> list[Finding]:
    """Every secret in ``text`` (any number of lines), merged, in text order."""
    found: list[Finding] = []
    if "PRIVATE KEY" in text:
        found.extend(
            Finding(block.body_start, block.body_end, "private_key")
            for block in key_blocks(text)
            if block.body_end > block.body_start
        )
    offset = 0
    for line in text.splitlines(keepends=True):
        if len(line) <= MAX_LINE:
            found.extend(f.shifted(offset) for f in _scan_line(line))
        else:
            step = MAX_LINE // 2
            for start in range(0, len(line), step):
                found.extend(f.shifted(offset + start) for f in _scan_line(line[start : start + MAX_LINE]))
        offset += len(line)
    return merge(found)
