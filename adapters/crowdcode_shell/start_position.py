"""Where the cursor is when the wrapper starts: the recording's screen starts there too.

A ``crowdcode shell`` started from a prompt part-way down the screen draws its first prompt on
that row, and the terminal scrolls only once output reaches the bottom. An emulator started blank
would put that prompt on row 0 and be misaligned until the screen has scrolled once. So, once the
user's terminal is in raw mode, the wrapper asks it where the cursor is (DSR 6, ``ESC [ 6 n``,
answered by every VT100-compatible terminal, tmux and screen included) and does not wait: the
answer is picked out of the input as it arrives, never passed to the child, and sent to the
recorder, which places its emulator's cursor there and replays the output it had so far.

Only an interactive bash, zsh or fish is asked for: a command (``crowdcode shell -- CMD``) gets
output that is byte for byte what it wrote, with no question in front of it.

Fallback: a terminal that does not answer within :data:`WINDOW_S` (or a wrapper whose input or
output is not a terminal, or that runs a command or another shell) starts the recording at row 0,
column 0. What was on the
rows above is not known either way; the recording shows them blank.
"""

from __future__ import annotations

import re

QUERY = b"\x1b[6n"
WINDOW_S = 1.0
"""How long input is searched for the answer; after that (or the first answer) it passes untouched.
Terminals answer within milliseconds; a second covers a slow SSH link."""
_REPLY = re.compile(rb"\x1b\[(\d{1,5});(\d{1,5})R")


def take_reply(data: bytes) -> tuple[bytes, tuple[int, int] | None]:
    """``data`` without the first cursor-position report in it, and that position as a 0-based
    (row, col), or ``(data, None)`` when there is none."""
    match = _REPLY.search(data)
    if match is None:
        return data, None
    row, col = (max(int(n) - 1, 0) for n in match.groups())
    return data[: match.start()] + data[match.end() :], (row, col)


def encode(position: tuple[int, int]) -> bytes:
    return b"%d;%d" % position


def decode(data: bytes) -> tuple[int, int]:
    row, col = (int(n) for n in data.split(b";"))
    return row, col


def move_to(position: tuple[int, int]) -> bytes:
    """The escape sequence that puts an emulator's cursor at ``position``."""
    return b"\x1b[%d;%dH" % (position[0] + 1, position[1] + 1)
