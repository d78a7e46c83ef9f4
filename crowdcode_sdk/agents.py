"""Known coding-agent CLIs and how to recognise one from a process's command line.

One list for the whole SDK: the shell wrapper uses it to notice an agent in a terminal's
foreground, attribution uses it to name the agent behind a file change. Agents are often scripts
run by an interpreter (``node /usr/lib/node_modules/.bin/claude``, ``python -m aider``), so the
matcher looks past a known interpreter and its options to the script or module it runs.
"""

from __future__ import annotations

import os
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
    "q": ("q",),
}
"""Agent name → names its executable, script or package goes by."""

INTERPRETERS = frozenset(
    {"node", "nodejs", "bun", "deno", "python", "python3", "npx", "bunx", "pnpx", "uv", "uvx", "pipx", "env"}
)
"""Programs that run an agent rather than being one: look at their arguments instead."""

_BY_NAME = {alias: agent for agent, aliases in AGENTS.items() for alias in aliases}


def _base(word: str) -> str:
    name = os.path.basename(word.rstrip("/"))
    for suffix in (".js", ".mjs", ".cjs", ".py", ".exe"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _candidates(word: str) -> list[str]:
    """Names a command-line word may identify an agent by: its base name, and for paths into a
    package directory (``…/node_modules/@openai/codex/bin/codex.js``) the package name."""
    names = [word, _base(word)]
    parts = word.split("/")
    if "node_modules" in parts:
        rest = parts[parts.index("node_modules") + 1 :]
        if rest:
            names.append("/".join(rest[:2]) if rest[0].startswith("@") else rest[0])
    return names


def match_agent(argv: Sequence[str]) -> str | None:
    """The agent a process's argv runs, or ``None``.

    >>> match_agent(["node", "/usr/local/bin/claude", "--resume"])
    'claude'
    >>> match_agent(["python3", "-m", "aider"])
    'aider'
    >>> match_agent(["vim", "claude.txt"]) is None
    True
    """
    words = list(argv)
    while words:
        word = words.pop(0)
        for name in _candidates(word):
            agent = _BY_NAME.get(name)
            if agent is not None:
                return agent
        if _base(word).rstrip("0123456789.") not in INTERPRETERS and not _base(word).startswith("python"):
            return None
        # An interpreter: skip its options (and "-m"), then look at what it runs.
        while words and (words[0].startswith("-") or "=" in words[0]):  # options, env's NAME=value
            option = words.pop(0)
            if option == "-m" and words:
                return _BY_NAME.get(words[0].split(".")[0])
            if option in ("-c", "-e", "--eval"):
                return None
        if words and words[0] in ("exec", "run", "x", "dlx", "tool"):  # bun x, uv tool run, pnpm dlx …
            words.pop(0)
            if words and words[0] == "run":
                words.pop(0)
    return None


def is_agent(name: str) -> bool:
    return name in AGENTS
