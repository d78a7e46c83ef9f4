"""Private keys by their BEGIN line: every line of the body is masked, whatever the detectors
make of it alone.

A key's body rows are base64; most are long enough for the entropy rule, but its last, short row
(or a row not typed to its end yet) is not, and neither a terminal (one line at a time) nor an
editor's edit stream (a line at a time, in any order) shows the BEGIN line with it. So a block is
recognised from its BEGIN line: up to its END line, or, while there is none (a key being typed
or pasted, a screen cut below it), over the lines that a key body can hold
(:data:`.patterns.KEY_BODY_LINE`). An open block needs its BEGIN marker to end its line, so that
code comparing a line with ``"-----BEGIN RSA PRIVATE KEY-----"`` does not open one.

A key's rows can also come before its BEGIN line (the body pasted first, the header typed after),
or with no BEGIN line at all in what the redactor sees. Such rows are recognised by their shape:
a run of base64 rows that holds a full-width row (64 characters, PEM and PGP armor; 70, OpenSSH),
random-looking (upper case, lower case and digits), is taken for a key's body, its short rows too
(:func:`loose_bodies`). The cost is ordinary base64 wrapped at those widths in code or data: its
short rows are masked as well (its full rows look random and are masked by the entropy rule
anyway). Rows under the BEGIN line of something public (a certificate, a public key) are not.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NamedTuple

from .patterns import KEY_BODY_LINE, PRIVATE_KEY_BEGIN, PRIVATE_KEY_BLOCK

_OPENS = re.compile(PRIVATE_KEY_BEGIN.pattern + r"\s*$")
"""A line that opens a key block: one whose BEGIN marker ends it."""

_FULL_ROW = re.compile(r"^[ \t]*([A-Za-z0-9+/]{70}|[A-Za-z0-9+/]{64})[ \t]*\r?$", re.MULTILINE)
"""A full-width row of a key's body: 64 characters (PEM, PGP armor) or 70 (OpenSSH)."""
_ROW = re.compile(r"[ \t]*[A-Za-z0-9+/]+={0,2}[ \t]*\r?")
"""A row of base64 (a key body's last row, or one being typed)."""
_ARMOR_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]+-----")
_UPPER, _LOWER, _DIGIT = re.compile("[A-Z]"), re.compile("[a-z]"), re.compile("[0-9]")


class KeyBlock(NamedTuple):
    """Offsets in the text: the BEGIN marker's start, the body's start and end, and the block's
    end (after the END marker, or the body's end while there is none)."""

    start: int
    body_start: int
    body_end: int
    end: int


def _ends_line(text: str, position: int) -> bool:
    rest = text.find("\n", position)
    return not text[position : len(text) if rest < 0 else rest].strip()


def key_blocks(text: str) -> Iterator[KeyBlock]:
    """Every private key block of ``text``, closed or open (see the module docstring)."""
    position = 0
    while (begin := PRIVATE_KEY_BEGIN.search(text, position)) is not None:
        closed = PRIVATE_KEY_BLOCK.match(text, begin.start())
        following = PRIVATE_KEY_BEGIN.search(text, begin.end())
        if closed is not None and (following is None or closed.end(2) <= following.start()):
            yield KeyBlock(begin.start(), closed.start(2), closed.end(2), closed.end())
            position = closed.end()
            continue
        position = begin.end()
        if not _ends_line(text, position):
            continue
        body_start = text.find("\n", position) + 1 or len(text)
        body_end = line_start = body_start
        while line_start <= len(text):
            newline = text.find("\n", line_start)
            line_end = len(text) if newline < 0 else newline
            if not KEY_BODY_LINE.fullmatch(text, line_start, line_end):
                break
            body_end = line_end
            line_start = line_end + 1
        yield KeyBlock(begin.start(), body_start, body_end, body_end)  # an empty body too: its rows may come
        position = body_end


def _random_looking(row: str) -> bool:
    """Upper case, lower case and a digit: a random full-width row lacks one in 50,000 cases (a
    digit), a hex digest, a ruler of ``/`` or ``+`` or words run together lack one always."""
    return _UPPER.search(row) is not None and _LOWER.search(row) is not None and _DIGIT.search(row) is not None


def loose_bodies(text: str) -> Iterator[tuple[int, int]]:
    """Runs of base64 rows (start, end offsets) that hold a full-width random-looking row, each
    a key's body as far as its shape tells: rows come before their BEGIN line, or without one
    (see the module docstring). A run under a BEGIN line is left to :func:`key_blocks` (a
    private key's) or alone (anything else's)."""
    position = 0
    for full in _FULL_ROW.finditer(text):
        if full.start() < position or not _random_looking(full.group(1)):
            continue
        start = full.start()
        head = ""
        while start > 0:
            above = text.rfind("\n", 0, start - 1) + 1
            if not _ROW.fullmatch(text, above, start - 1):
                head = text[above : start - 1]
                break
            start = above
        end = full.end()
        while end < len(text):
            below = text.find("\n", end + 1)
            below = len(text) if below < 0 else below
            if not _ROW.fullmatch(text, end + 1, below):
                break
            end = below
        position = end
        if _ARMOR_BEGIN.search(head) is None:
            yield start, end


def holds_a_row(lines: str) -> bool:
    """Whether one of ``lines`` is a row of base64, as a key's body has."""
    return any(_ROW.fullmatch(line) for line in lines.split("\n"))


def loose_rows(text: str) -> Iterator[tuple[int, int]]:
    """The rows of :func:`loose_bodies`, each without the blanks around it (an indentation, a
    diff's context mark)."""
    for start, end in loose_bodies(text):
        for line in re.finditer(r"[^\s]+", text[start:end]):
            yield start + line.start(), start + line.end()


def key_row_lines(text: str) -> set[int]:
    """The lines (0-based) of ``text`` that are rows of a private key's body, in a block or a
    loose body: what a diff of the text shows of them is masked line by line."""
    spans = [(block.body_start, block.body_end) for block in key_blocks(text)] if "PRIVATE KEY" in text else []
    spans += loose_bodies(text)
    rows: set[int] = set()
    for start, end in spans:
        body = text[start:end]
        start += len(body) - len(body.lstrip("\r\n"))  # a closed block's body starts with its BEGIN line's end
        end -= len(body) - len(body.rstrip("\r\n"))
        if start < end:
            first = text.count("\n", 0, start)
            rows.update(range(first, first + text.count("\n", start, end) + 1))
    return rows


def holds_key_rows(text: str) -> bool:
    """Whether ``text`` holds a private key's BEGIN line or a loose body: a document opened
    with it is worth knowing whole (:meth:`.streams.ShadowDocument.opened`)."""
    return "PRIVATE KEY" in text or next(loose_bodies(text), None) is not None


class KeyLines:
    """The same rule for text that comes a line at a time (a terminal's output, typed lines):
    :meth:`body` says whether a line belongs to an open key's body."""

    def __init__(self) -> None:
        self.open = False
        self.rows = 0
        """Body rows (not blank) since the BEGIN line, :meth:`body`'s last included."""

    def body(self, line: str) -> bool:
        if self.open and KEY_BODY_LINE.fullmatch(line):
            self.rows += bool(line.strip())
            return True
        self.open = "PRIVATE KEY" in line and _OPENS.search(line) is not None
        self.rows = 0
        return False
