"""The AI coding agents crowdcode recognises by their command line.

One list for the whole SDK: the shell wrapper uses it to tell an agent CLI in the foreground, and
attribution uses it to name the agent that changed a file.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence

AGENTS: dict[str, str] = {
    "claude": "claude",
    "codex": "codex",
    "gemini": "gemini",
    "aider": "aider",
    "cursor-agent": "cursor-agent",
    "opencode": "opencode",
}
"""Executable name → agent name."""

_LAUNCHERS = frozenset({"env", "npx", "bunx", "pnpx", "uvx", "pipx", "sudo", "nice", "nohup", "time", "exec"})
_INTERPRETERS = frozenset({"node", "bun", "deno", "python", "python3"})


def command_words(command: str | Sequence[str]) -> list[str]:
    """A command line as words (a shell string is split like a shell would)."""
    if isinstance(command, str):
        try:
            return shlex.split(command)
        except ValueError:
            return command.split()
    return list(command)


def program(command: str | Sequence[str]) -> str | None:
    """The program a command line runs, looking through launchers (``npx``, ``env X=1``, …) and
    interpreters running a script (``node …/bin/codex``)."""
    words = command_words(command)
    index = 0
    while index < len(words):
        word = words[index]
        name = os.path.basename(word)
        if ("=" in word and not word.startswith("-")) or (name in _LAUNCHERS and index + 1 < len(words)):
            index += 1
            continue
        if word.startswith("-") and index > 0 and os.path.basename(words[index - 1]) in _LAUNCHERS:
            index += 1
            continue
        if name in _INTERPRETERS and index + 1 < len(words) and not words[index + 1].startswith("-"):
            script = os.path.basename(words[index + 1])
            if script.removesuffix(".js").removesuffix(".py") in AGENTS:
                return script.removesuffix(".js").removesuffix(".py")
        return name
    return None


def match_agent(command: str | Sequence[str]) -> str | None:
    """The agent a command line runs (``claude``, ``codex`` …), or ``None``."""
    name = program(command)
    if name is None:
        return None
    name = name.removeprefix("@").split("@", 1)[0]  # npx @scope/pkg@version
    return AGENTS.get(name.rsplit("/", 1)[-1])
