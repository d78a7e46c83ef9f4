"""Private keys by their BEGIN line: every line of the body is masked, whatever the detectors
make of it alone.

A key's body rows are base64; most are long enough for the entropy rule, but its last, short row
(or a row not typed to its end yet) is not, and neither a terminal (one line at a time) nor an
editor's edit stream (a line at a time, in any order) shows the BEGIN line with it. So a block is
recognised from its BEGIN line: up to its END line, or, while there is none (a key being typed
or pasted, a screen cut below it), over the lines that a key body can hold
(:data:`.patterns.KEY_BODY_LINE`). An open block needs its BEGIN marker to end its line, so that
code comparing a line with ``"-----BEGIN RSA PRIVATE KEY-----"`` does not open one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NamedTuple

from .patterns import KEY_BODY_LINE, PRIVATE_KEY_BEGIN, PRIVATE_KEY_BLOCK

_OPENS = re.compile(PRIVATE_KEY_BEGIN.pattern + r"\s*$")
"""A line that opens a key block: one whose BEGIN marker ends it."""


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
