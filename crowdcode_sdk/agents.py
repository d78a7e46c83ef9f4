"""Known coding-agent CLIs and how to recognise one from a process's command line.

One list for the whole SDK: the shell wrapper uses it to notice an agent in a terminal's
foreground, attribution uses it to name the agent behind a file change. Agents are often scripts
run by an interpreter or a launcher (``node /usr/lib/node_modules/.bin/claude``,
``npx @openai/codex``, ``python -m aider``, ``env X=1 gemini``), so the matcher looks past those
and their options to the script, module or package they run.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence

AGENTS: dict[str, tuple[str, ...]] = {
    # agent name: executable, script or package names that identify it
    "claude": ("claude", "claude-code", "@anthropic-ai/claude-code"),
    "codex": ("codex", "@openai/codex"),
    "gemini": ("gemini", "@google/gemini-cli"),
    "aider": ("aider", "aider-chat"),
    "cursor-agent": ("cursor-agent",),
    "opencode": ("opencode", "opencode-ai"),
    "goose": ("goose",),
    "amp": ("amp", "@sourcegraph/amp"),
    "copilot": ("copilot", "@github/copilot"),
    "qwen": ("qwen", "@qwen-code/qwen-code"),
    "crush": ("crush",),
    "cline": ("cline",),
    "kiro": ("kiro-cli",),
}
"""Agent name → names its executable, script or package goes by."""

INTERPRETERS = frozenset({"node", "nodejs", "bun", "deno", "python", "python3"})
"""Languages' interpreters: they run an agent's script, else they are the program (``python gen.py``)."""

LAUNCHERS = frozenset(
    {"env", "sudo", "nice", "nohup", "time", "exec", "command", "npx", "bunx", "pnpx", "uv", "uvx", "pipx"}
)
"""Programs that run the next word (a program or a package) as the program."""

_BY_NAME = {alias: agent for agent, aliases in AGENTS.items() for alias in aliases}


def command_words(command: str | Sequence[str]) -> list[str]:
    """A command line as words (a shell string is split as a shell would)."""
    if isinstance(command, str):
        try:
            return shlex.split(command)
        except ValueError:
            return command.split()
    return list(command)


def _base(word: str) -> str:
    name = os.path.basename(word.rstrip("/"))
    for suffix in (".js", ".mjs", ".cjs", ".py", ".exe"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _is_interpreter(word: str) -> bool:
    name = _base(word)
    return name.rstrip("0123456789.") in INTERPRETERS or name.startswith("python")


def _candidates(word: str) -> list[str]:
    """Names a command-line word may identify an agent by: itself, its base name, and for paths
    into a package directory (``…/node_modules/@openai/codex/bin/codex.js``) the package name; a
    version suffix (``pkg@1.2``) is ignored."""
    if word.startswith("@"):  # @scope/package[@version]
        word = "@" + word[1:].split("@", 1)[0]
    elif "/" not in word:  # package[@version]
        word = word.split("@", 1)[0]
    names = [word, _base(word)]
    parts = word.split("/")
    if "node_modules" in parts:
        rest = parts[parts.index("node_modules") + 1 :]
        if rest:
            names.append("/".join(rest[:2]) if rest[0].startswith("@") else rest[0])
    return names


def _program_words(command: str | Sequence[str]) -> tuple[str | None, str | None]:
    """(the word naming the program a command runs, the agent it is if one)."""
    words = command_words(command)
    interpreter: str | None = None
    while words:
        word = words.pop(0)
        if "=" in word and not word.startswith("-"):  # NAME=value before the program
            continue
        for name in _candidates(word):
            agent = _BY_NAME.get(name)
            if agent is not None:
                return word, agent
        if _is_interpreter(word):
            interpreter = interpreter or word
        elif _base(word) not in LAUNCHERS:
            return interpreter or word, None
        # A launcher or interpreter: skip its options (and "-m"), then look at what it runs.
        while words and words[0].startswith("-"):
            option = words.pop(0)
            if option == "-m" and words:
                module = words[0].split(".")[0]
                agent = _BY_NAME.get(module)
                return (module if agent else interpreter or word), agent
            if option in ("-c", "-e", "--eval"):
                return interpreter or word, None
        if words and words[0] in ("exec", "run", "x", "dlx", "tool"):  # bun x, uv tool run, pnpm dlx …
            words.pop(0)
            if words and words[0] == "run":
                words.pop(0)
        if not words:
            return interpreter or word, None
    return interpreter, None


def match_agent(command: str | Sequence[str]) -> str | None:
    """The agent a command line (a string or an argv) runs, or ``None``.

    >>> match_agent(["node", "/usr/local/bin/claude", "--resume"])
    'claude'
    >>> match_agent("npx @openai/codex@latest")
    'codex'
    >>> match_agent(["python3", "-m", "aider"])
    'aider'
    >>> match_agent("vim claude.txt") is None
    True
    """
    return _program_words(command)[1]


def program(command: str | Sequence[str]) -> str | None:
    """The name of the program a command line runs, looking through launchers (``env X=1``,
    ``npx``) and interpreters running a script (``node …/bin/codex`` → ``codex``)."""
    word, agent = _program_words(command)
    if agent is not None:
        return agent
    return _base(word) if word is not None else None


def is_agent(name: str) -> bool:
    return name in AGENTS
