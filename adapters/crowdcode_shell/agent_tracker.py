"""CLI agents in a terminal: their sessions, the prompts the user submits, the screens they answer
with.

An agent session lasts while a known agent (see :mod:`crowdcode_sdk.agents`) has the terminal.
A prompt is the line the user typed and submitted with Enter while it did — rebuilt from the
keystrokes with the usual line-editing keys, since agent TUIs draw their own input box. Enter
inside a bracketed paste is a newline of the prompt, not a submission: a pasted paragraph is one
prompt. A prompt that starts with ``/`` (``/exit``, ``/clear``, ``/model``) is the agent's own
command and is marked as such; no response is waited for.

The response is the agent's output area once it has settled after a prompt (no change for
``settle_s``), or as it stands when the user submits the next prompt or leaves the agent: the
rows after the prompt's echo in the transcript, down to the input box (the last row that opens a
box with ``╭`` or ``┌``, as Claude Code, Codex and Gemini draw theirs) — the box and the status
line under it are not the answer. A screen with no box is taken down to its last row.
"""

from __future__ import annotations

import re
import threading

from crowdcode_sdk import AgentPrompt, AgentResponse, AgentSessionEnd, AgentSessionStart, Session

from .foreground import Foreground
from .screen import ScreenState

_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|O.|\][^\x07\x1b]*(?:\x07|\x1b\\)|.)", re.S)
_PASTE = re.compile(r"(\x1b\[20[01]~)")
PASTE_START = "\x1b[200~"
BOX_CORNERS = ("╭", "┌")


class LineEditor:
    """What a line holds after the keystrokes typed into it."""

    def __init__(self) -> None:
        self.text = ""
        self._pasting = False  # between the terminal's paste markers (mode 2004)

    def feed(self, keys: str) -> list[str]:
        """Apply ``keys``; returns the lines submitted with Enter."""
        submitted = []
        for part in _PASTE.split(keys):
            if _PASTE.fullmatch(part):
                self._pasting = part == PASTE_START
            elif self._pasting:
                self.text += _ESCAPE.sub("", part).replace("\r\n", "\n").replace("\r", "\n")
            else:
                submitted += self._keys(_ESCAPE.sub("", part))
        return submitted

    def _keys(self, keys: str) -> list[str]:
        submitted = []
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


SHELLS_LEAVING_TYPEAHEAD = ("zsh",)
"""Shells whose line editor reads the command line up to its Enter and leaves keys typed after it
in the terminal, for the program the command starts (bash's readline reads them itself, for its
next line)."""


class AgentTracker:
    def __init__(
        self, session: Session, terminal_id: str, child_pid: int, settle_s: float = 1.5, shell: str | None = None
    ) -> None:
        self._session = session
        self._leaves_typeahead = shell in SHELLS_LEAVING_TYPEAHEAD
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
        self._prompt = ""
        self._since = 0.0  # when the current agent was first seen
        self._pid: int | None = None  # the foreground process (group leader) it runs in
        self._left: tuple[str, LineEditor, float, float] | None = None
        """The agent that last left the terminal: its line, and when it had the terminal. Keys
        reach the tracker later than the foreground sample does: the ``/exit`` that ended it
        arrives after it has gone."""
        self._command_since: float | None = None
        """When the shell's running command started (its command-start mark), while the first
        program seen in the foreground since may still be an agent."""
        self._unclaimed: list[tuple[float, str]] = []
        """Keys typed since then that no agent has taken (yet): an agent that is the first program
        seen after the mark takes them (it has had the terminal since, up to a sampling tick
        before it was seen). A program seen first (``poetry shell``, ``sleep 1; claude``) reads
        keys itself, so the window closes."""
        self._other_seen_at = 0.0
        """When a program that is not an agent was last seen in the foreground."""
        self._typeahead: list[str] = []
        """Keys typed at such a shell's prompt after an Enter, before the command-start mark (in
        the same read as the Enter, or typed ahead): the program the command starts reads them,
        although they are older than the mark. Keys typed before the next prompt-start mark
        went to the shell."""

    def foreground(self, current: Foreground | None, now: float = 0.0) -> None:
        """The foreground program as sampled at ``now`` (monotonic seconds)."""
        agent = current.agent if current else None
        with self._lock:
            if current is not None and agent is None:
                self._other_seen_at = now
                self._command_since = None
                self._unclaimed = []
            if agent == self._agent:
                return
            if current is None and self._pid == self._child_pid:
                return  # the agent is the terminal's program and is exiting: close() ends it
            if self._agent is not None:
                self._left = (self._agent, self._editor, self._since, now)
            self._end(None)
            self._agent = agent
            self._pid = current.pid if current else None
            # The terminal's own program has had it from the start, whenever it was first seen
            # (the recorder starts after it): keys typed before the first sample are its too. An
            # agent that a shell command started has had it since the command started.
            if self._pid == self._child_pid:
                self._since = 0.0
            elif agent is not None and self._command_since is not None:
                self._since = self._command_since
            else:
                self._since = now
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
                self._claim()

    def command_started(self, at: float) -> None:
        """The shell's command-start mark, made at ``at``: its keys go to an agent it starts, also
        to one seen before this mark was handled (the sampler runs apart from the marks)."""
        with self._lock:
            typeahead, self._typeahead = [(at, text) for text in self._typeahead if text], []
            if self._other_seen_at >= at:  # the sampler saw another program of this command first
                return
            self._command_since = at
            self._unclaimed = typeahead + [(t, text) for t, text in self._unclaimed if t >= at]
            if self._agent is not None and self._pid != self._child_pid and at < self._since:
                self._since = at
                self._claim()

    def command_ended(self) -> None:
        with self._lock:
            self._command_since = None
            self._unclaimed = []

    def prompt_shown(self) -> None:
        """The shell's prompt-start mark: keys typed before it went to the shell."""
        with self._lock:
            self._typeahead = []

    def _claim(self) -> None:
        """Give the current agent the keys typed since it has had the terminal."""
        keys, self._unclaimed = [t for t in self._unclaimed if t[0] >= self._since], []
        for _, text in keys:
            self._take(text)

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
                self._take(text)
            elif self._left is not None and self._left[2] <= at < self._left[3]:  # typed to an agent now gone
                agent, editor, _, _ = self._left
                for line in self._submitted(editor, text):
                    self._record_prompt(agent, line)
            elif self._command_since is not None and at >= self._command_since and len(self._unclaimed) < 4096:
                self._unclaimed.append((at, text))
            elif self._leaves_typeahead and (self._typeahead or "\r" in text) and len(self._typeahead) < 4096:
                self._typeahead.append(text if self._typeahead else text.partition("\r")[2])

    def _take(self, text: str) -> None:
        """Keys for the current agent: the prompts they submit."""
        agent = self._agent
        if agent is None:
            return
        for line in self._submitted(self._editor, text):
            self._respond()
            self._record_prompt(agent, line)
            if not is_agent_command(line):
                self._awaiting = True
                self._prompt = line
                self._prompt_screen = self._screen

    def _record_prompt(self, agent: str, line: str) -> None:
        command = True if is_agent_command(line) else None
        self._session.record(AgentPrompt(agent=agent, text=line, terminal_id=self._terminal_id, command=command))

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

    @property
    def awaiting(self) -> bool:
        """A prompt's response is not yet recorded: it needs ticks until the screen settles."""
        return self._awaiting

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
        text = output_area(self._screen.lines, self._prompt)
        self._session.record(AgentResponse(agent=self._agent, text=text, terminal_id=self._terminal_id))


def is_agent_command(prompt: str) -> bool:
    """``/exit``, ``/clear``: a word after a slash, not a path or a sentence that starts with one."""
    return re.fullmatch(r"/[A-Za-z][\w:-]*(?:\s.*)?", prompt.strip(), re.S) is not None


def output_area(lines: list[str], prompt: str) -> str:
    """The rows of an agent's screen that answer ``prompt`` (see the module's docstring)."""
    end = len(lines)
    for row in range(len(lines) - 1, -1, -1):
        if lines[row].lstrip().startswith(BOX_CORNERS):
            end = row
            break
    start = 0
    first_line = prompt.strip().split("\n", 1)[0].strip()
    if first_line:
        for row in range(end - 1, -1, -1):
            if _echoes(lines[row], first_line):
                start = row + 1 + prompt.strip().count("\n")
                break
    return "\n".join(lines[start:end]).strip("\n")


def _echoes(row: str, prompt_line: str) -> bool:
    """Whether ``row`` is the transcript's echo of a prompt line: the line behind a short marker
    (``> ``, ``│ > ``), not an answer that quotes it."""
    row = row.strip()
    return row.endswith(prompt_line) and len(row) - len(prompt_line) <= 4
