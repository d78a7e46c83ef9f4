"""Which program has the terminal: the PTY's foreground process group, read from /proc.

``tcgetpgrp`` on the master is one system call, so it is polled with the screen sampler; /proc is
read only when the foreground group changes (and a known agent is looked for among the group
leader's descendants, since agents are often started through ``npx``, ``uv`` or a wrapper).
"""

from __future__ import annotations

import os
import shlex
from typing import NamedTuple

from crowdcode_sdk.agents import INTERPRETERS, match_agent

SHELLS = frozenset({"bash", "zsh", "fish", "sh", "dash", "ksh", "mksh", "tcsh", "csh", "nu", "elvish", "xonsh"})
EXEC_WAIT_MS = 1000
"""How long a new foreground group whose leader still has the shell's own command line is taken
for a fork that has not exec'd its program yet, and not reported."""


class Foreground(NamedTuple):  # not a dataclass: the wrapper imports it (docs/shell.md, "Start-up")
    pid: int
    argv: tuple[str, ...]
    cwd: str | None
    agent: str | None
    since: int  # epoch ms

    @property
    def command(self) -> str:
        return shlex.join(self.argv)

    @property
    def process(self) -> str:
        """The program's name; for an interpreter, the script it runs (``node claude`` → claude)."""
        words = list(self.argv)
        name = os.path.basename(words[0]) if words else "?"
        if name.rstrip("0123456789.") in INTERPRETERS:
            for word in words[1:]:
                if not word.startswith("-"):
                    return os.path.basename(word)
        return name

    def to_registry(self) -> dict[str, object]:
        return {
            "command": self.command,
            "process": self.process,
            "pid": self.pid,
            "cwd": self.cwd,
            "agent": self.agent,
            "since": self.since,
        }


def read_argv(pid: int) -> tuple[str, ...]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except OSError:
        return ()
    return tuple(part.decode("utf-8", "replace") for part in raw.split(b"\0") if part)


def read_cwd(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return None


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except (OSError, ValueError):
        return []


def find_agent(pid: int, argv: tuple[str, ...], depth: int = 3) -> str | None:
    agent = match_agent(argv)
    if agent or depth == 0:
        return agent
    for child in _children(pid):
        agent = find_agent(child, read_argv(child), depth - 1)
        if agent:
            return agent
    return None


class ForegroundWatcher:
    """Polls the foreground group of a PTY. ``shell_pid`` is the PTY's first process: while its
    group has the terminal and it is a shell, nothing else runs in the foreground."""

    def __init__(self, master: int, shell_pid: int, shell_argv: tuple[str, ...]) -> None:
        self._master = master
        self._shell_pid = shell_pid
        self._shell_is_shell = bool(shell_argv) and os.path.basename(shell_argv[0]).lstrip("-") in SHELLS
        self._pgrp: int | None = None
        self._seen_at = 0  # when the foreground group last changed, epoch ms
        self._current: Foreground | None = None
        self._agent_checks = 0

    def poll(self, now_ms: int) -> Foreground | None:
        try:
            pgrp = os.tcgetpgrp(self._master)
        except OSError:
            pgrp = None
        if pgrp is None or (pgrp == self._shell_pid and self._shell_is_shell):
            self._pgrp = pgrp
            self._current = None
            return None
        if pgrp != self._pgrp:
            self._pgrp, self._current, self._seen_at = pgrp, None, now_ms
        if self._current is None:
            argv = read_argv(pgrp)
            if not argv:  # already gone
                return None
            # A shell hands the terminal to its child before the child execs the command: a first
            # look on a busy machine may read the shell's own command line. The command is the
            # program it execs (a subshell that runs builtins for longer is the shell's line).
            if pgrp != self._shell_pid and now_ms - self._seen_at < EXEC_WAIT_MS and argv == read_argv(self._shell_pid):
                return None
            self._current = Foreground(pgrp, argv, read_cwd(pgrp), find_agent(pgrp, argv), self._seen_at)
            self._agent_checks = 0
        elif self._current.agent is None and self._agent_checks < 20:
            # Look again for a couple of seconds: a wrapper may start the agent a moment later,
            # and a child may exec once more.
            self._agent_checks += 1
            argv = read_argv(pgrp) or self._current.argv
            agent = find_agent(pgrp, argv)
            if agent or argv != self._current.argv:
                cwd = read_cwd(pgrp) if argv != self._current.argv else self._current.cwd
                self._current = Foreground(self._current.pid, argv, cwd, agent, self._current.since)
        return self._current
