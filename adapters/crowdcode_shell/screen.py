"""The rendered screen, behind one small interface so that the emulator can be swapped.

The emulator is pyavt (Python bindings to asciinema's Rust ``avt``), chosen by measurement
(benchmarks/terminal_emulators.py, docs/benchmarks.md): about 100 times pyte's feed rate, and it keeps
the alternate screen, so vim, less and agent TUIs render as the user sees them and the shell's
screen returns when they exit. pyte has no alternate screen buffer.

The emulator keeps a scrollback, as terminals do: when a terminal grows taller after shrinking,
it brings lines back from its scrollback (tmux, xterm, VTE all do), and a screen without one
would show the rows shifted until the next ``clear``.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from typing import Protocol

import avt

SCROLLBACK_LINES = 1000
"""Enough for any resize to bring back what a terminal would (tmux keeps 2000 by default; a
resize reveals at most one screen's height of it)."""


@dataclass(frozen=True)
class ScreenState:
    lines: list[str]  # one per row, trailing blanks removed
    cursor: tuple[int, int]  # (row, col), 0-based
    cols: int
    rows: int
    alternate: bool

    @property
    def text(self) -> str:
        return "\n".join(self.lines).rstrip("\n")


class Screen(Protocol):
    def feed(self, data: bytes) -> None: ...

    def resize(self, cols: int, rows: int) -> None: ...

    def state(self) -> ScreenState: ...

    def reset(self) -> None: ...


class AvtScreen:
    """A :class:`Screen` on pyavt. Bytes are decoded incrementally (invalid UTF-8 shows as U+FFFD,
    as terminals show it)."""

    def __init__(self, cols: int, rows: int) -> None:
        self._vt = avt.Vt(cols, rows, scrollback_limit=SCROLLBACK_LINES)
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, data: bytes) -> None:
        text = self._decoder.decode(data)
        if text:
            self._vt.feed_str(text)

    def resize(self, cols: int, rows: int) -> None:
        """The height first, then the width, as tmux resizes: avt's one-step resize drops the
        blank rows below the cursor before rewrapping, so the rows that tmux's rewrapping pushes
        into the scrollback stayed on the recorded screen (docs/shell.md, "Resizes")."""
        self._vt.resize(self._vt.size[0], rows)
        self._vt.resize(cols, rows)

    def reset(self) -> None:
        """A blank screen of the same size (after a panic: what was shown is forgotten)."""
        self._vt = avt.Vt(*self._vt.size, scrollback_limit=SCROLLBACK_LINES)

    def state(self) -> ScreenState:
        cols, rows = self._vt.size
        cursor = self._vt.cursor
        return ScreenState(
            lines=[line.text.rstrip() for line in self._vt.view()],
            cursor=(cursor.row, cursor.col),
            cols=cols,
            rows=rows,
            # avt does not expose the active buffer; its state dump switches to the alternate
            # buffer (mode 1047) exactly when that buffer is active.
            alternate="\x9b?1047h" in self._vt.dump(),
        )


def render(data: bytes, cols: int, rows: int) -> ScreenState:
    """The screen after ``data`` on a fresh terminal (tests and replay)."""
    screen = AvtScreen(cols, rows)
    screen.feed(data)
    return screen.state()
