"""Secrets already found in a session, masked wherever they show up again in it.

A detector needs a whole token: a key half typed in an editor sampled 10 times a second, a
password found once in an assignment and printed bare later, a token that a screen shows cut by
the cursor, the wrapped end of a token whose start scrolled off the screen — each is
unrecognisable on its own. Once any channel found the secret, its every
later occurrence is masked, and so is every prefix of at least :data:`MIN_PREFIX` characters that
ends a token (``key = 'ghp_Qm7X`` while typing), and every end of one of at least that length
that starts a line, in the same batch's earlier samples too (the redactor passes its
observations again at the end of a batch).
"""

from __future__ import annotations

import re

import re2  # type: ignore[import-untyped]

from .detector import Finding

MIN_PREFIX = 6
MIN_SECRET = 8
CATEGORY = "known_secret"
"""Masks from this list are not counted again: the secret was counted where it was found."""

IDENTITY = frozenset({"home", "user", "host"})


def _common_prefix(text: str, start: int, secret: str) -> int:
    n = 0
    limit = min(len(secret), len(text) - start)
    while n < limit and text[start + n] == secret[n]:
        n += 1
    return n


class KnownSecrets:
    def __init__(self) -> None:
        self._by_head: dict[str, list[str]] = {}
        self._pattern: re.Pattern[str] | None = None
        self._grams: re2._Regexp | None = None

    def __bool__(self) -> bool:
        return bool(self._by_head)

    def remember(self, text: str, findings: list[Finding]) -> None:
        for f in findings:
            if f.category in IDENTITY or f.category == CATEGORY or f.end - f.start < MIN_SECRET:
                continue
            secret = text[f.start : f.end]
            for row in secret.split("\n"):  # a key's rows: a screen scrolled past its BEGIN shows them alone
                row = row.strip()
                if len(row) < MIN_SECRET or " " in row:  # an armor header is not key material
                    continue
                same_head = self._by_head.setdefault(row[:MIN_PREFIX], [])
                if row not in same_head:
                    same_head.append(row)
                    self._pattern = None
                    self._grams = None

    def _heads(self) -> re.Pattern[str]:
        """One alternation of every known secret's first characters: one pass over a text."""
        if self._pattern is None:
            self._pattern = re.compile(
                "|".join(re.escape(head) for head in sorted(self._by_head, key=len, reverse=True))
            )
        return self._pattern

    def may_find(self, text: str) -> bool:
        """False when :meth:`find` finds nothing in ``text``, for a cheap look at a whole chunk."""
        return bool(self._by_head) and self._heads().search(text) is not None

    def find(self, text: str) -> list[Finding]:
        """Occurrences of known secrets and of their token-ending prefixes in ``text``."""
        if not self._by_head:
            return []
        found = []
        for match in self._heads().finditer(text):
            start = match.start()
            if start and text[start - 1].isalnum():
                continue
            best = 0
            for secret in self._by_head.get(match.group(), ()):
                n = _common_prefix(text, start, secret)
                whole = n == len(secret)
                ends_token = start + n == len(text) or not text[start + n].isalnum()
                if n >= MIN_PREFIX and (whole or ends_token):
                    best = max(best, n)
            if best:
                found.append(Finding(start, start + best, CATEGORY))
        return found

    def ends(self, text: str) -> list[Finding]:
        """The end of a known secret at the start of a line: a wrapped secret whose first row
        scrolled off the top of a screen (asked of screens only: it costs a search per line)."""
        found = []
        start = 0
        while start < len(text):
            head = text[start : start + MIN_PREFIX]
            if len(head) == MIN_PREFIX and head.isascii():
                best = 0
                for secrets in self._by_head.values():
                    for secret in secrets:
                        at = secret.find(head, 1)
                        while at > 0:
                            if text.startswith(secret[at:], start):
                                best = max(best, len(secret) - at)
                            at = secret.find(head, at + 1)
                if best:
                    found.append(Finding(start, start + best, CATEGORY))
            newline = text.find("\n", start)
            if newline < 0:
                break
            start = newline + 1
        return found

    def fragments(self, text: str) -> list[Finding]:
        """Every run of at least :data:`MIN_SECRET` characters of ``text`` that a known secret
        holds, anywhere in it: asked of the lines a shell draws again after moving the cursor to a
        key typed or deleted in the middle of a command line, which show a secret's middle (its
        start left of the cursor or on the row above, a key typed or deleted before it). One RE2
        pass over every known secret's runs of that length."""
        if not self._by_head:
            return []
        if self._grams is None:
            grams = {
                secret[i : i + MIN_SECRET]
                for secrets in self._by_head.values()
                for secret in secrets
                for i in range(len(secret) - MIN_SECRET + 1)
            }
            self._grams = re2.compile("|".join(re.escape(gram) for gram in sorted(grams)))
        found: list[Finding] = []
        position = 0
        while (match := self._grams.search(text, position)) is not None:
            start, end = match.start(), match.end()
            if found and start <= found[-1].end:
                found[-1] = Finding(found[-1].start, max(end, found[-1].end), CATEGORY)
            else:
                found.append(Finding(start, end, CATEGORY))
            position = start + 1
        return found
