"""Commands in a terminal: from shell-integration marks, or from the foreground program where no
integration runs; and the live-registry facts attribution reads (``cwd``, ``foreground``,
``running``, ``recent``; the contract is in docs/shell.md).
"""

from __future__ import annotations

import shlex
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from crowdcode_sdk import Session, TerminalCommand, TerminalCommandEnd

from .foreground import Foreground
from .marks import Mark, command_text, history_entry

RECENT = 20


@dataclass
class _Running:
    command: str
    cwd: str | None
    start: int
    process: str | None = None
    agent: str | None = None

    def to_registry(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "process": self.process,
            "cwd": self.cwd,
            "agent": self.agent,
            "start": self.start,
        }


class CommandTracker:
    """Thread-safe: marks and input arrive on the recorder's reader thread, foreground changes on
    the sampler thread."""

    def __init__(self, session: Session, terminal_id: str, terminal_name: str, shell: str | None) -> None:
        self._session = session
        self._terminal_id = terminal_id
        self._terminal_name = terminal_name
        self._shell = shell  # the integrated shell, or None: commands come from the foreground
        self._lock = threading.Lock()
        self._cwd: str | None = None
        self._running: _Running | None = None
        self._recent: deque[dict[str, Any]] = deque(maxlen=RECENT)
        self._history_number: int | None = None
        self._first_typed: str | None = None  # first character typed at this prompt
        self._foreground: Foreground | None = None

    @property
    def cwd(self) -> str | None:
        return self._cwd

    def typed(self, text: str) -> None:
        with self._lock:
            if self._first_typed is None:
                stripped = text.lstrip("\x1b[0123456789;ABCDOH~")  # keys, not characters
                if stripped:
                    self._first_typed = stripped[0]

    def mark(self, mark: Mark, now_ms: int) -> None:
        with self._lock:
            if mark.kind == "P" and mark.payload != self._cwd:
                self._cwd = mark.payload
                self._session.publish(cwd=self._cwd)
            elif mark.kind == "A":
                self._first_typed = None
            elif mark.kind == "C":
                command = self._command_line(mark.payload)
                if command is not None:
                    self._start(command, self._cwd, now_ms)
            elif mark.kind == "D" and self._running is not None:
                code = int(mark.payload) if mark.payload.lstrip("-").isdigit() else None
                self._finish(code, now_ms)

    def _command_line(self, payload: str) -> str | None:
        if self._shell != "bash":
            return command_text(payload)
        number, text = history_entry(payload)
        saved = number is None or number != self._history_number
        self._history_number = number
        if saved:
            return text
        # Not saved to history: a repeat (HISTCONTROL=ignoredups, so the entry is right) or a line
        # that starts with a space (ignorespace: the user keeps it out of history; so do we).
        return None if self._first_typed == " " else text

    def _start(self, command: str, cwd: str | None, now_ms: int) -> None:
        self._running = _Running(command, cwd, now_ms)
        fg = self._foreground
        # the sampler may see the program a moment before its mark arrives (not a stale one)
        if fg is not None and now_ms - fg.since < 1000:
            self._running.process = fg.process
            self._running.agent = fg.agent
        self._session.record(
            TerminalCommand(
                terminal_id=self._terminal_id,
                terminal_name=self._terminal_name,
                command=command,
                cwd=self._event_path(cwd),
            )
        )
        # Published at once: a command done before the sampler's next tick (``rm``) is never the
        # foreground, and a change it makes is decided from this entry, not the last one finished.
        self._session.publish(running=self._running.to_registry())

    def _finish(self, exit_code: int | None, now_ms: int) -> None:
        running, self._running = self._running, None
        assert running is not None
        self._session.record(
            TerminalCommandEnd(
                terminal_id=self._terminal_id,
                terminal_name=self._terminal_name,
                command=running.command,
                exit_code=exit_code,
                cwd=self._event_path(self._cwd or running.cwd),
                duration_ms=max(0, now_ms - running.start),
            )
        )
        self._recent.append(
            {
                "command": running.command,
                "process": running.process,
                "cwd": running.cwd,
                "agent": running.agent,
                "start": running.start,
                "end": now_ms,
            }
        )
        self._session.publish(running=None, recent=list(self._recent))

    def _event_path(self, cwd: str | None) -> str | None:
        """Directories in events are workspace-relative or ``~/…`` (the registry keeps them
        absolute: it never leaves the machine)."""
        return self._session.relpath(cwd) if cwd else None

    def foreground(self, current: Foreground | None, now_ms: int) -> None:
        with self._lock:
            if current == self._foreground:
                return
            previous, self._foreground = self._foreground, current
            self._session.publish(foreground=current.to_registry() if current else None)
            new_program = previous is None or current is None or previous.pid != current.pid
            if self._shell is None and new_program:  # no integration: the foreground program is the command
                if previous is not None and self._running is not None:
                    self._finish(None, now_ms)
                if current is not None:  # since it had the terminal, which may be a moment before
                    self._start(shlex.join(current.argv), current.cwd, current.since)
            if current is not None and self._running is not None:
                if not new_program or not self._running.process:  # after an exec, the new program
                    self._running.process = current.process
                self._running.agent = self._running.agent or current.agent

    def forget_since(self, cutoff_ms: int) -> None:
        """Panic: commands that ran in the removed time leave the registry too."""
        with self._lock:
            kept = [r for r in self._recent if r["end"] < cutoff_ms and r["start"] < cutoff_ms]
            if len(kept) != len(self._recent):
                self._recent = deque(kept, maxlen=RECENT)
                self._session.publish(recent=kept)
            if self._running is not None and self._running.start >= cutoff_ms:
                self._session.publish(running=None)  # still tracked, to end; no longer evidence

    def close(self, exit_status: int | None, now_ms: int) -> None:
        """The terminal's program exited: a command still running ended with it."""
        with self._lock:
            if self._running is not None:
                self._finish(exit_status if self._shell is None else None, now_ms)
