"""Who else could have changed a file: the commands running in recorded terminals.

``crowdcode shell`` publishes, in the live registry, the foreground command of each recorded
terminal (with its directory and, for agent CLIs, the agent's name) and the last commands that
finished. A file change in that directory while an agent CLI is in the foreground is the agent's;
while (or just after) a known tool such as ``sed -i``, ``black`` or ``npm install`` ran, it is that
tool's (``external``, with the command as evidence); while a terminal editor (vim, nano …) is in
the foreground it is the user's; while ``git`` ran it is git's.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..agents import match_agent, program
from ..locations import Locations
from ..registry import live_sessions, request
from ..schema import Evidence, Source

RECENT_SLACK_MS = 2000
"""A finished command still explains changes seen up to this long after it ended (the shell
reports the end a little late, and the watcher waits its forward window)."""

CATCH_UP_TIMEOUT_S = 0.25
"""How long a recorded terminal has to say whether it has caught up; one that takes longer (its
recorder stopped, or starved) counts as behind."""

TERMINAL_EDITORS = frozenset(
    {
        "vi",
        "vim",
        "nvim",
        "view",
        "nano",
        "pico",
        "emacs",
        "micro",
        "hx",
        "helix",
        "kak",
        "joe",
        "mg",
        "ne",
        "ed",
        "jed",
        "mcedit",
    }
)

KNOWN_TOOLS = frozenset(
    {
        # stream editors and file utilities
        "sed",
        "perl",
        "awk",
        "gawk",
        "ruby",
        "tee",
        "cp",
        "mv",
        "rm",
        "touch",
        "truncate",
        "dd",
        "install",
        "ln",
        "mkdir",
        "rsync",
        "tar",
        "unzip",
        "gunzip",
        "curl",
        "wget",
        "patch",
        "find",
        "xargs",
        "sort",
        "cat",
        "echo",
        "printf",
        "jq",
        "yq",
        # formatters and linters that fix
        "black",
        "ruff",
        "isort",
        "autopep8",
        "yapf",
        "prettier",
        "eslint",
        "biome",
        "dprint",
        "gofmt",
        "goimports",
        "rustfmt",
        "clang-format",
        "shfmt",
        "stylua",
        "terraform",
        "mix",
        "dotnet",
        # package managers and build tools
        "npm",
        "pnpm",
        "yarn",
        "bun",
        "deno",
        "pip",
        "pip3",
        "uv",
        "poetry",
        "pdm",
        "conda",
        "cargo",
        "go",
        "make",
        "cmake",
        "ninja",
        "gradle",
        "mvn",
        "bundle",
        "gem",
        "composer",
        "swift",
        "protoc",
        "buf",
        "cookiecutter",
        # interpreters running scripts (code generators)
        "python",
        "python3",
        "node",
        "bash",
        "sh",
        "zsh",
        "fish",
        "pytest",
        "tox",
        "nox",
    }
)


def classify_command(command: str) -> tuple[Source, str | None] | None:
    """(source, agent name) for a command line, or ``None`` if it is not recognised. A line of
    several commands (``sleep 1; printf x >> f``, ``cd src && sed -i …``) is what the most telling
    of them is: an agent, then a terminal editor, then a known tool, then git."""
    found = [verdict for words in simple_commands(command) if (verdict := _classify_words(words))]
    rank = {Source.AGENT: 0, Source.USER: 1, Source.EXTERNAL: 2, Source.GIT: 3}
    return min(found, key=lambda verdict: rank[verdict[0]], default=None)


def simple_commands(command: str) -> list[list[str]]:
    """The words of each command of a shell command line: split at ``;``, ``&&``, ``||``, ``|``,
    ``&``, line breaks and subshell parentheses, as the shell would (quotes respected)."""
    lexer = shlex.shlex(command.replace("\n", "\n;"), posix=True, punctuation_chars=";&|()")
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    try:
        for token in lexer:
            if token and set(token) <= set(";&|()"):
                commands.append([])
            else:
                commands[-1].append(token)
    except ValueError:  # an unclosed quote: what it has so far
        pass
    return [words for words in commands if words]


def _classify_words(words: list[str]) -> tuple[Source, str | None] | None:
    agent = match_agent(words)
    if agent is not None:
        return Source.AGENT, agent
    name = program(words)
    if name is None:
        return None
    if name == "git":
        return Source.GIT, None
    if name in TERMINAL_EDITORS:
        return Source.USER, None
    if name in KNOWN_TOOLS:
        return Source.EXTERNAL, None
    return None


@dataclass(frozen=True)
class Verdict:
    source: Source
    evidence: Evidence | None


class TerminalEvidence:
    """Reads the live registry once per batch of file events and answers per file."""

    def __init__(self, locations: Locations) -> None:
        self._locations = locations

    def entries(self) -> list[dict[str, Any]]:
        return live_sessions(self._locations)

    @staticmethod
    def terminals_on(entries: list[dict[str, Any]], files: list[tuple[Path, Path]]) -> list[dict[str, Any]]:
        """The recorded terminals that work on any of ``files``, (path, watch root) pairs."""
        return [
            entry
            for entry in entries
            if "terminal" in entry and any(_near(entry.get("cwd"), path, root) for path, root in files)
        ]

    @staticmethod
    def behind(terminals: list[dict[str, Any]], moment: int) -> bool:
        """Whether one of ``terminals`` may not have published yet the commands it ran until
        ``moment`` (epoch ms). A terminal's recorder reads the shell's marks from its output in a
        process of its own, seconds late on a busy machine, while the watcher sees a command's
        writes at once: without the question, the change of a command just typed goes to the one
        before it (``crowdcode shell`` answers it, see ``caught_up`` in its recording). A terminal
        that does not answer in :data:`CATCH_UP_TIMEOUT_S` is behind, and so is one whose control
        socket's queue is full of such questions (``EAGAIN``); one that has ended, or does not know
        the question, is not."""
        for entry in terminals:
            try:
                reply = request(entry, "caught_up", timeout=CATCH_UP_TIMEOUT_S, moment=moment)
            except (TimeoutError, BlockingIOError):
                return True
            except (OSError, ValueError, KeyError):
                continue
            if reply.get("ok") and not reply.get("caughtUp"):
                return True
        return False

    def verdict(self, entries: list[dict[str, Any]], path: Path, root: Path, first: int, last: int) -> Verdict | None:
        """The source of a change to ``path`` (under watch root ``root``) seen from ``first`` to
        ``last`` (epoch ms): of the commands in that directory that ran when it began, the most
        recently started (a ``sed`` run while an agent waits in another terminal is the ``sed``);
        else the most recently started command still running (from its start mark, or the
        foreground program), else the last command that finished around then."""
        covering: list[tuple[int, Verdict]] = []
        running: list[tuple[int, Verdict]] = []
        finished: list[tuple[int, Verdict]] = []
        for entry in entries:
            for key, began in (("foreground", "since"), ("running", "start")):
                current = entry.get(key)
                if isinstance(current, dict) and _near(current.get("cwd"), path, root):
                    since = _int(current.get(began))
                    if since <= last + RECENT_SLACK_MS and (v := _verdict(current, entry)):
                        running.append((since, v))
                        if since <= first:
                            covering.append((since, v))
            for command in entry.get("recent") or ():
                if not isinstance(command, dict) or not _near(command.get("cwd"), path, root):
                    continue
                start, end = _int(command.get("start")), _int(command.get("end"))
                if (
                    end >= first - RECENT_SLACK_MS
                    and start <= last + RECENT_SLACK_MS
                    and (v := _verdict(command, entry))
                ):
                    finished.append((end, v))
                    if start <= first <= end:
                        covering.append((start, v))
        for candidates in (covering, running, finished):
            if candidates:
                return max(candidates, key=lambda c: c[0])[1]
        return None


def _verdict(info: dict[str, Any], entry: dict[str, Any]) -> Verdict | None:
    command = str(info.get("command") or "")
    agent = info.get("agent")
    if agent:
        found: tuple[Source, str | None] | None = (Source.AGENT, str(agent))
    else:
        found = classify_command(command) or (classify_command(str(info["process"])) if info.get("process") else None)
    if found is None:
        return None
    source, agent_name = found
    pid = info.get("pid")
    return Verdict(
        source,
        Evidence(
            agent=agent_name,
            command=command or None,
            process=info.get("process"),
            pid=pid if isinstance(pid, int) else None,
            terminal_id=info.get("terminalId") or entry.get("terminalId"),
            detail=f"recorded terminal of session {entry.get('sessionId', '?')}",
        ),
    )


def _near(cwd: Any, path: Path, root: Path) -> bool:
    """Whether a command run in ``cwd`` works on ``path``: the file is below it, or both are in the
    same watched workspace."""
    if not isinstance(cwd, str) or not cwd:
        return False
    directory = Path(cwd)
    return path.is_relative_to(directory) or directory.is_relative_to(root)


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0
