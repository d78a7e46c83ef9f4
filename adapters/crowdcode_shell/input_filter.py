"""Typed input as a person typed it: without the terminal's answerbacks.

When a program queries the terminal (cursor position, device attributes, colours, modes), the
user's terminal answers on standard input. Those replies are not typing, so they are removed
before input is recorded (they still reach the program unchanged).
"""

from __future__ import annotations

import re

ANSWERBACK = re.compile(
    rb"\x1b\[\d+;\d+R"  # cursor position report (DSR 6)
    rb"|\x1b\[[?>=][\d;]*c"  # primary/secondary/tertiary device attributes
    rb"|\x1b\[\??[\d;]*\$y"  # mode report (DECRPM)
    rb"|\x1b\[\d*n"  # device status report (DSR 5)
    rb"|\x1b\[\?[\d;]*[nu]"  # colour-scheme and keyboard-protocol reports
    rb"|\x1b\[\d+;\d+;\d+t"  # window size reports
    rb"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC replies (colours, clipboard)
    rb"|\x1bP[^\x1b]*\x1b\\"  # DCS replies (XTGETTCAP, DECRQSS, terminal id)
    rb"|\x1b\[[IO]"  # focus in/out reports
)


def typed(data: bytes) -> bytes:
    """``data`` without terminal answerbacks."""
    if b"\x1b" not in data:
        return data
    return ANSWERBACK.sub(b"", data)
