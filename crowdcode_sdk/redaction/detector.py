"""Finding secrets in text: detect-secrets' plugins plus :mod:`.patterns` where they fall short.

The detector returns spans (start, end, category) rather than rewritten text, because callers
mask differently: edit streams need the same length in UTF-16 units (so that later offsets stay
valid), screens need the same width. detect-secrets plugins yield secret *values*; their spans are
found again in the line. No plugin's ``verify`` is ever called: nothing goes to the network.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import re2  # type: ignore[import-untyped]
from detect_secrets.filters.heuristic import is_potential_uuid, is_sequential_string, is_templated_secret
from detect_secrets.plugins import keyword as ds_keyword
from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString, HexHighEntropyString

from .key_blocks import key_blocks, loose_rows
from .patterns import (
    ASSIGNMENT,
    ASSIGNMENT_UNLIKE_A_WORD,
    PLUGINS,
    RULES,
    SECRET_WORD,
    TOKEN,
    assignment_value_is_secret,
    ignores_case,
    is_digest,
    looks_random,
    needles,
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


_WORD = r"[\p{L}\p{N}\p{M}_]"
_SPACE = r"[\s\v\p{Z}\x1c-\x1f\x85]"
r"""Python's ``\w`` and ``\s`` (Unicode) as RE2 spells them (its own are ASCII): a condition
must find whatever the detectors' Python regexes find."""


def _needed(regexes: Iterable[re.Pattern[str]]) -> str:
    """What every match of one of ``regexes`` contains, as an RE2 pattern: their needles
    (:func:`.needles`, in case where the regex keeps case), or the regex itself when it has
    none, or ``.`` (anything: the detector always runs) when RE2 would read it otherwise."""
    alternatives = []
    for regex in regexes:
        found = needles(regex)
        if found is not None:
            spelled = "|".join(map(re.escape, sorted(found, key=len, reverse=True)))
            alternatives.append(f"(?i:{spelled})" if ignores_case(regex) else f"(?:{spelled})")
            continue
        pattern = regex.pattern.replace(r"\d", r"\p{Nd}")
        if re.search(r"\\[wWsSbBDAZ0-9]|\(\?[<=!P]|[\^$]", pattern):
            return "."
        alternatives.append(f"(?i:{pattern})" if regex.flags & re.IGNORECASE else f"(?:{pattern})")
    return "|".join(alternatives)


_DENY = ds_keyword.DENYLIST_REGEX
_CONDITIONS = (
    *(rule.condition or _needed([rule.regex]) for rule in RULES),
    *(_needed(plugin.denylist) for _, plugin in PLUGINS),  # type: ignore[attr-defined]
    # ASSIGNMENT: the secret word, the rest of the name, then the assignment sign.
    rf"(?i:{SECRET_WORD})[A-Za-z0-9_\-.]*[\"']?{_SPACE}*[:=]",
    # detect-secrets' keyword detector: the denylisted word, then an assignment, a comparison or
    # (C's ``char password[] = "…";``, Go's forms) a quote after one token; or a comparison before.
    rf"(?i:{_DENY}){_WORD}*(?:[\]'\"]{{0,2}}{_SPACE}*[:=!]|\S*{_SPACE}*['\"`])|[!=]{{2}}{_SPACE}*{_WORD}*(?i:{_DENY})",
    # the entropy plugins: a quoted value of 16 or more (hex is a subset of the charset)
    r"['\"][A-Za-z0-9+/\\\-_=]{16}",
    # TOKEN: an unquoted run of 32
    r"[A-Za-z0-9+/_\-]{32}",
)
"""For each detector, by its index (``RULES``, then ``PLUGINS``, then the assignment, keyword,
entropy and token rules), an RE2 pattern that finds something in every line where the detector
can find a secret: what every match of it contains. For the two that name a secret by a word,
that is the word with what must follow it (``pass`` alone is in "3 passed", ``password =`` is
not). No condition has anchors or lookarounds, so one that finds nothing in a text finds nothing
in any of its lines. ``tests/test_redaction.py`` draws text from every detector's regexes and
checks that its condition finds it."""
_ASSIGNMENT_INDEX = len(RULES) + len(PLUGINS)
_KEYWORD_INDEX = _ASSIGNMENT_INDEX + 1
_ENTROPY_INDEX = _ASSIGNMENT_INDEX + 2
_TOKEN_INDEX = _ASSIGNMENT_INDEX + 3


def _condition_set() -> Any:
    """All the conditions in one RE2 set: one pass over a text (a whole chunk of terminal
    output, or one line) says which detectors can find anything in it. Python's ``re`` tries
    an alternation's ~150 branches at every position, about 1000 times as slow on a chunk."""
    conditions = re2.Set.SearchSet()
    for condition in _CONDITIONS:
        conditions.Add(condition)
    conditions.Compile()
    return conditions


_CONDITION_SET = _condition_set()


def detectors(text: str) -> list[int]:
    """The detectors that can find anything in ``text`` (their indices in :data:`_CONDITIONS`),
    in order. All of them for a text RE2 cannot take (a lone surrogate half, as a shadow
    document holds of an emoji)."""
    try:
        found = _CONDITION_SET.Match(text)
    except UnicodeEncodeError:
        return list(range(len(_CONDITIONS)))
    return sorted(found) if found else []


def maybe_secret(text: str) -> bool:
    """False only when no detector can find anything in any part of any line of ``text``."""
    return bool(detectors(text))


_ASSIGNMENT_UNLIKE_A_WORD = re2.compile(ASSIGNMENT_UNLIKE_A_WORD)


def may_find(text: str) -> bool:
    """False only when :func:`find_secrets` finds nothing in ``text``, and nothing in any of its
    lines scanned one by one; unlike :func:`maybe_secret`, not said of parts of lines.

    Log lines with a field named like a secret (``auth: session 12``) all meet the assignment
    detector's condition, and scanning them one by one costs about 20 µs a line. When that is
    the only condition met, one more RE2 pass looks for an assignment whose value is quoted or
    not one plain word (:data:`.patterns.ASSIGNMENT_UNLIKE_A_WORD`); where there is none,
    the detector finds nothing in any line. Only for ASCII text within :data:`MAX_LINE` a line
    (longer lines are scanned in windows, and RE2's case folding is not Python's beyond ASCII)."""
    found = detectors(text)
    if found != [_ASSIGNMENT_INDEX]:
        return bool(found)
    if not text.isascii() or (len(text) > MAX_LINE and any(len(line) > MAX_LINE for line in text.splitlines())):
        return True
    return _ASSIGNMENT_UNLIKE_A_WORD.search(text) is not None


@functools.lru_cache(maxsize=1 << 16)
def _scan_line(line: str) -> tuple[Finding, ...]:
    """Findings in one line, in priority order (provider formats first, entropy last). A
    detector runs only when the line holds what each of its matches needs (:data:`_CONDITIONS`)."""
    if len(line) < 8:
        return ()
    found: list[Finding] = []
    for index in detectors(line):  # in priority order: provider formats first, entropy last
        if index < len(RULES):
            rule = RULES[index]
            for match in rule.regex.finditer(line):
                group = next((g for g in range(1, (match.lastindex or 0) + 1) if match.group(g)), 0)
                if rule.assigned and not assignment_value_is_secret(match.group(group), quoted=group != 3):
                    continue
                found.append(Finding(match.start(group), match.end(group), rule.category))
        elif index < _ASSIGNMENT_INDEX:
            category, plugin = PLUGINS[index - len(RULES)]
            for value in set(plugin.analyze_string(line)):
                found.extend(Finding(s, e, category) for s, e in _occurrences(line, value))
        elif index == _ASSIGNMENT_INDEX:
            for match in ASSIGNMENT.finditer(line):
                group = next(g for g in (1, 2, 3) if match.group(g) is not None)
                if assignment_value_is_secret(match.group(group), quoted=group != 3):
                    found.append(Finding(match.start(group), match.end(group), "password_assignment"))
        elif index == _KEYWORD_INDEX:
            for denylist in _KEYWORD_MAPS:
                for value in set(_KEYWORD.analyze_string(line, denylist)):
                    value = value.strip("'\"")
                    quoted = f'"{value}"' in line or f"'{value}'" in line
                    if len(value) >= 4 and _plausible(value) and assignment_value_is_secret(value, quoted=quoted):
                        found.extend(Finding(s, e, "password_assignment") for s, e in _occurrences(line, value))
        elif index == _ENTROPY_INDEX:
            for plugin in _ENTROPY_PLUGINS:
                for value in set(plugin.analyze_string(line)):
                    if len(value) >= 16 and _plausible(value) and looks_random(value):
                        found.extend(
                            Finding(s, e, "high_entropy")
                            for s, e in _occurrences(line, value)
                            if not is_digest(line, s)
                        )
        else:
            for match in TOKEN.finditer(line):
                token = match.group(1)
                if looks_random(token) and _plausible(token) and not is_digest(line, match.start(1)):
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


_LINE_BREAK = re.compile("[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
"""Where ``str.splitlines`` cuts."""


def find_secrets(text: str) -> list[Finding]:
    """Every secret in ``text`` (any number of lines), merged, in text order."""
    if len(text) <= MAX_LINE and _LINE_BREAK.search(text) is None and "PRIVATE KEY" not in text:  # typing's one line
        return merge(list(_scan_line(text)))
    found: list[Finding] = []
    if "PRIVATE KEY" in text:
        found.extend(
            Finding(block.body_start, block.body_end, "private_key")
            for block in key_blocks(text)
            if block.body_end > block.body_start
        )
    found.extend(Finding(start, end, "private_key") for start, end in loose_rows(text))
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
