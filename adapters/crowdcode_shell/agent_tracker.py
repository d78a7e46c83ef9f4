"""CLI agents in a terminal: their sessions, the prompts the user submits, the screens they answer
with.

An agent session lasts while a known agent (see :mod:`crowdcode_sdk.agents`) has the terminal.
A prompt is the line the user typed and submitted with Enter while it did — rebuilt from the
keystrokes with the usual line-editing keys, since agent TUIs draw their own input box. The
response is the agent's screen once it has settled after a prompt (no change for
``settle_s``), or as it stands when the user submits the next prompt or leaves the agent.
"""

from __future__ import annotations

import re
import threading

from crowdcode_sdk import AgentPrompt, AgentResponse, AgentSessionEnd, AgentSessionStart, Session

from .foreground import Foreground
from .screen import ScreenState

_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|O.|\][^\x07\x1b]*(?:\x07|\x1b\\)|.)", re.S)
_PASTE = re.compile(r"\x1b\[20[01]~")


class LineEditor:
    """What a line holds after the keystrokes typed into it."""

    def __init__(self) -> None:
        self.text = ""

    def feed(self, keys: str) -> list[str]:
        """Apply ``keys``; returns the lines submitted with Enter."""
        submitted = []
        keys = _ESCAPE.sub("", _PASTE.sub("", keys))
        for ch in keys:
            if ch == "\r":
                submitted.append(self.text)
                self.text = ""
            elif ch in ("\x7f", "\x08"):
                self.text = self.text[:-1]
            elif ch == "\x15":  # Ctrl-U
                self.text = ""
            elif ch == "\x17":  # Ctrl-W
                self.text = self.text.rstrip().rpartition(" ")[0] + (" " if " " in self.text.rstrip() else "")
            elif ch == "\x03":  # Ctrl-C abandons the line
                self.text = ""
            elif ch == "\n" or ch >= " ":
                self.text += ch
        return submitted


class AgentTracker:
    def __init__(self, session: Session, terminal_id: str, child_pid: int, settle_s: float = 1.5) -> None:
        self._session = session
        self._child_pid = child_pid
        self._terminal_id = terminal_id
        self._settle_s = settle_s
        self._lock = threading.Lock()
        self._agent: str | None = None
        self._editor = LineEditor()
        self._awaiting = False  # a prompt was submitted, its response not yet recorded
        self._screen: ScreenState | None = None
        self._changed_at = 0.0
        self._prompt_screen: ScreenState | None = None
        self._since = 0.0  # when the current agent was first seen
        self._pid: int | None = None  # the foreground process (group leader) it runs in
        self._left: tuple[str, LineEditor, float, float] | None = None
        """The agent that last left the terminal: its line, and when it had the terminal. Keys
        reach the tracker later than the foreground sample does: the ``/exit`` that ended it
        arrives after it has gone."""

    def foreground(self, current: Foreground | None, now: float = 0.0) -> None:
        """The foreground program as sampled at ``now`` (monotonic seconds)."""
        agent = current.agent if current else None
        with self._lock:
            if agent == self._agent:
                return
            if current is None and self._pid == self._child_pid:
                return  # the agent is the terminal's program and is exiting: close() ends it
            if self._agent is not None:
                self._left = (self._agent, self._editor, self._since, now)
            self._since = now
            self._end(None)
            self._agent = agent
            self._pid = current.pid if current else None
            self._editor = LineEditor()
            if agent is not None and current is not None:
                self._session.record(
                    AgentSessionStart(
                        agent=agent,
                        command=current.command,
                        cwd=self._session.relpath(current.cwd) if current.cwd else None,
                        terminal_id=self._terminal_id,
                    )
                )

    def close(self, exit_status: int | None) -> None:
        """The terminal's program exited; if it was the agent itself, its status is the agent's."""
        with self._lock:
            self._end(exit_status if self._pid == self._child_pid else None)
            self._agent = None

    def _end(self, exit_code: int | None) -> None:
        if self._agent is not None:
            self._respond()
            self._session.record(AgentSessionEnd(agent=self._agent, exit_code=exit_code, terminal_id=self._terminal_id))

    def typed(self, text: str, at: float) -> None:
        """Keys typed at ``at`` (monotonic seconds; the recorder may process them later)."""
        with self._lock:
            if self._agent is not None and at >= self._since:
                for line in self._submitted(self._editor, text):
                    self._respond()
                    self._session.record(AgentPrompt(agent=self._agent, text=line, terminal_id=self._terminal_id))
                    self._awaiting = True
                    self._prompt_screen = self._screen
            elif self._left is not None and self._left[2] <= at < self._left[3]:  # typed to an agent now gone
                agent, editor, _, _ = self._left
                for line in self._submitted(editor, text):
                    self._session.record(AgentPrompt(agent=agent, text=line, terminal_id=self._terminal_id))

    @staticmethod
    def _submitted(editor: LineEditor, text: str) -> list[str]:
        return [line for line in editor.feed(text) if line.strip()]

    def screen(self, state: ScreenState, now: float) -> None:
        """A new sample of the screen (only called when it changed), or ``None``-free ticks via
        :meth:`tick`."""
        with self._lock:
            self._screen = state
            self._changed_at = now

    def forget(self) -> None:
        """Panic: what was typed and shown is no longer ours to record."""
        with self._lock:
            self._editor = LineEditor()
            self._awaiting = False
            self._screen = self._prompt_screen = None

    def tick(self, now: float) -> None:
        with self._lock:
            if self._awaiting and now - self._changed_at >= self._settle_s:
                self._respond()

    def _respond(self) -> None:
        if not self._awaiting or self._agent is None or self._screen is None:
            return
        if self._screen == self._prompt_screen:
            return  # nothing shown yet
        self._awaiting = False
        self._session.record(AgentResponse(agent=self._agent, text=self._screen.text, terminal_id=self._terminal_id))
