"""A terminal command's output as the model sees it in ``<stdout>``.

Our recordings carry rendered screens (``activeTerminal`` observations with ``cols``/``rows``:
the rows a terminal emulator shows), so the output is read off the screen that the user saw when
the command finished: the rows below the command line, down to the row of the cursor (the next
prompt). crowd-code 2.0 data has only the raw stream's last lines (escape sequences included);
those are cleaned the way the reference serializer meant to, with its defects fixed: all CSI,
OSC, DCS and two-byte escapes removed, backspaces applied, and of each ``\\r``-separated line only
what the last redraw left visible.
"""

from __future__ import annotations

import re
from typing import Any

_ESCAPES = re.compile(
    r"""
    \x1b\[[0-?]*[ -/]*[@-~]                    # CSI
    | \x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?       # OSC, ended by BEL or ST
    | \x1b[PX^_][^\x1b]*(?:\x1b\\)?            # DCS, SOS, PM, APC
    | \x1b[ -/]+[0-~]                          # nF (charset selection)
    | \x1b[0-~]                                # two-byte: Fp (ESC 7, ESC =, ESC >), Fe, Fs
    | \x9b[0-?]*[ -/]*[@-~]                    # 8-bit CSI
    """,
    re.VERBOSE,
)
_CONTROL = re.compile(r"[\x00-\x07\x0b\x0c\x0e-\x1f\x7f]")


def clean_line(line: str) -> str:
    """One raw output line as it ends up on screen: escapes gone, ``\\r`` redraws and ``\\b``
    applied, trailing spaces removed."""
    line = _ESCAPES.sub("", line)
    if "\r" in line:
        # Each segment overwrites the start of the line; the visible result is the last segment
        # followed by whatever longer earlier segment still shows beyond it.
        visible = ""
        for segment in line.split("\r"):
            visible = segment + visible[len(segment) :]
        line = visible
    if "\b" in line:
        chars: list[str] = []
        for ch in line:
            if ch == "\b":
                if chars:
                    chars.pop()
            else:
                chars.append(ch)
        line = "".join(chars)
    return _CONTROL.sub("", line).rstrip()


def clean_raw(text: str) -> str:
    """Raw terminal output (a stream tail) as plain lines."""
    lines = [clean_line(line) for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    return "\n".join(lines)


def is_rendered(terminal: dict[str, Any]) -> bool:
    """Whether an ``activeTerminal`` observation holds an emulator's screen (ours) rather than
    crowd-code's raw stream tail."""
    return terminal.get("rows") is not None or terminal.get("cols") is not None


def output_from_screen(terminal: dict[str, Any], command: str) -> str:
    """The command's output on a rendered screen: the rows after the last row showing the
    command (or the screen's top if it scrolled away) and before the cursor's row."""
    rows = [row.rstrip() for row in terminal.get("viewport") or []]
    cursor = terminal.get("cursor")
    end = cursor["line"] if cursor and cursor.get("line", -1) < len(rows) else len(rows)
    if cursor is None:
        while end and not rows[end - 1]:
            end -= 1
        end = max(end - 1, 0)  # the last non-empty row is the new prompt
    needle = _needle(command)
    start = 0
    if needle:
        for index in range(end - 1, -1, -1):
            if needle in rows[index]:
                start = index + 1
                break
    lines = rows[start:end]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def _needle(command: str) -> str:
    """What of a command line a screen row shows: the end of its last line."""
    return (command.strip().splitlines() or [""])[-1].strip()[-40:]


def shows_command(terminal: dict[str, Any], command: str) -> bool:
    """Whether a rendered screen shows the command's line: one sampled before the emulator drew
    the command (commands pasted at once all run between two samples) shows an older prompt,
    and its rows are no output of this command. (A crowd-code tail is taken as it is.)"""
    needle = _needle(command)
    return not is_rendered(terminal) or not needle or any(needle in row for row in terminal.get("viewport") or [])


def output_from_raw_tail(terminal: dict[str, Any], command: str) -> str:
    """crowd-code 2.0's tail: lines after the last ``$ <command>`` line it wrote."""
    raw = "\n".join(terminal.get("viewport") or [])
    marker = f"$ {command.strip()}"
    at = raw.rfind(marker)
    if at >= 0:
        raw = raw[at + len(marker) :]
    return clean_raw(raw)


def command_output(terminal: dict[str, Any] | None, command: str) -> str:
    if not terminal:
        return ""
    if is_rendered(terminal):
        return output_from_screen(terminal, command)
    return output_from_raw_tail(terminal, command)
