"""Terminal output that an editor plugin forwards (VS Code shell integration), and its commands
as evidence for the attribution engine.

Two things are kept per terminal: the raw stream, appended to an asciicast v2 file at
``<session dir>/terminals/<terminal id>.cast`` (docs/schema.md; truncated on panic), and
the tail of its last lines, which becomes the ``activeTerminal`` part of observations. The editor
only hands over the output of shell commands, not a screen, so the tail is the stream's last lines,
each cleaned as it shows on a screen (escape sequences removed, carriage-return redraws applied:
:func:`crowdcode_sdk.serialize.terminal.clean_line`), not a rendered screen.
"""

from __future__ import annotations

import os
import re
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from crowdcode_sdk.locations import open_private, private_dir
from crowdcode_sdk.schema import TerminalViewport
from crowdcode_sdk.serialize.terminal import clean_line

TAIL_LINES = 20
RECENT_COMMANDS = 20
MAX_LINE = 4096
_SAFE_ID = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass
class TerminalState:
    id: str
    name: str
    lines: deque[str] = field(default_factory=lambda: deque([""], maxlen=TAIL_LINES))
    started: int | None = None
    """When the current command started (epoch ms), for its duration."""
    command: str | None = None

    def feed(self, data: str) -> None:
        """Add raw output to the tail (cleaned when shown: an escape sequence may be split
        between two pieces of output)."""
        for i, piece in enumerate(data.split("\n")):
            if i:
                self.lines.append("")
            self.lines[-1] = (self.lines[-1] + piece)[-MAX_LINE:]

    def viewport(self) -> TerminalViewport:
        return TerminalViewport(id=self.id, name=self.name, viewport=[clean_line(line) for line in self.lines])


class Terminals:
    """Per-terminal state and raw stream files of one session."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory / "terminals"
        self._terminals: dict[str, TerminalState] = {}
        self._cast_start: dict[str, int] = {}

    def get(self, terminal_id: str, name: str | None = None) -> TerminalState:
        state = self._terminals.get(terminal_id)
        if state is None:
            state = self._terminals[terminal_id] = TerminalState(terminal_id, name or terminal_id)
        elif name:
            state.name = name
        return state

    def output(self, terminal_id: str, name: str | None, data: str, now_ms: int) -> TerminalState:
        state = self.get(terminal_id, name)
        state.feed(data)
        self._append(terminal_id, now_ms, data)
        return state

    def _cast_path(self, terminal_id: str) -> Path:
        return self._directory / f"{_SAFE_ID.sub('_', terminal_id)}.cast"

    def _append(self, terminal_id: str, now_ms: int, data: str) -> None:
        path = self._cast_path(terminal_id)
        lines = []
        start = self._cast_start.get(terminal_id)
        if start is None:
            # asciicast's header holds whole seconds; event times are relative to them.
            start = self._cast_start[terminal_id] = now_ms // 1000 * 1000
            private_dir(self._directory)
            lines.append(orjson.dumps({"version": 2, "width": 80, "height": 24, "timestamp": start // 1000}))
        lines.append(orjson.dumps([round((now_ms - start) / 1000, 3), "o", data]))
        fd = open_private(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            os.write(fd, b"\n".join(lines) + b"\n")
        finally:
            os.close(fd)

    def remove_since(self, cutoff_ms: int) -> None:
        """Panic hook: drop raw output recorded at or after ``cutoff_ms``; forget the tails."""
        for terminal_id, start in self._cast_start.items():
            path = self._cast_path(terminal_id)
            try:
                header, *events = path.read_bytes().splitlines()
            except (OSError, ValueError):
                continue
            kept = [line for line in events if start + orjson.loads(line)[0] * 1000 < cutoff_ms]
            fd = open_private(path, os.O_WRONLY | os.O_TRUNC)
            try:
                os.write(fd, b"\n".join([header, *kept]) + b"\n")
            finally:
                os.close(fd)
        for state in self._terminals.values():
            state.lines.clear()
            state.lines.append("")


class CommandFacts:
    """The editor's terminal commands as the live registry's facts, in the shape ``crowdcode shell``
    publishes (docs/shell.md: the command in the foreground, then the recent ones with their start and
    end), so that a file an editor terminal's ``sed -i`` or agent CLI changes is credited to it by
    whichever engine decides the change (``crowdcode_sdk.attribution.evidence``)."""

    def __init__(self) -> None:
        self._running: dict[str, dict[str, Any]] = {}
        self._recent: list[dict[str, Any]] = []

    def started(self, terminal_id: str, command: str, cwd: str, now_ms: int) -> dict[str, Any]:
        """A command started; returns the facts to publish."""
        self._running[terminal_id] = {"command": command, "cwd": cwd, "since": now_ms, "terminalId": terminal_id}
        return self.facts()

    def ended(self, terminal_id: str, now_ms: int) -> dict[str, Any]:
        """A command ended (a start never reported is no fact); returns the facts to publish."""
        running = self._running.pop(terminal_id, None)
        if running is not None:
            done = {"command": running["command"], "cwd": running["cwd"], "terminalId": terminal_id}
            self._recent = [*self._recent, {**done, "start": running["since"], "end": now_ms}][-RECENT_COMMANDS:]
        return self.facts()

    def facts(self) -> dict[str, Any]:
        """The most recently started command still running (one per session, as a shell has), and
        the recent ones."""
        foreground = max(self._running.values(), key=lambda c: c["since"], default=None)
        return {"foreground": foreground, "recent": list(self._recent)}
