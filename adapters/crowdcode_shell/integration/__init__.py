"""Shell integration: start bash, zsh or fish so that they mark commands for the recorder, without
touching the user's rc files (see docs/shell.md).

The marks are OSC 133's (FinalTerm's) A/C/D semantics — prompt, command start with its command
line, command end with its status — plus P for the directory, sent as a private OSC number
(6973) with a per-session nonce, ``ESC ] 6973 ; NONCE ; KIND [; PAYLOAD] BEL``. A private number
keeps the user's terminal (which ignores unknown OSCs) and its own OSC 133 integration out of it,
and the nonce keeps a file that merely contains such bytes (``cat`` of a recording) from faking
commands.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

NONCE_VARIABLE = "CROWDCODE_SHELL_NONCE"
SUPPORTED = ("bash", "zsh", "fish")


def directory() -> Path:
    """The scripts' directory: shells source them by path, so they are files next to this one."""
    return Path(__file__).parent


def shell_kind(argv: Sequence[str]) -> str | None:
    """Which supported shell ``argv`` starts interactively, or ``None`` (a command, a script)."""
    name = os.path.basename(argv[0]).lstrip("-")
    if name not in SUPPORTED:
        return None
    rest = list(argv[1:])
    # Options that run something other than an interactive session: leave those alone.
    if any(a in ("-c", "--command") or (a.startswith("-") and not a.startswith("--") and "c" in a) for a in rest):
        return None
    if any(not a.startswith("-") for a in rest):  # a script file
        return None
    return name


def prepare(argv: Sequence[str], env: dict[str, str], nonce: str) -> tuple[list[str], dict[str, str], bool]:
    """(argv, env, integrated): ``argv`` changed to load our hooks if it starts a supported shell."""
    argv = list(argv)
    env = {**env, NONCE_VARIABLE: nonce}
    kind = shell_kind(argv)
    if kind == "bash":
        if "--rcfile" in argv or "--norc" in argv or "--posix" in argv or any(a in ("-l", "--login") for a in argv):
            return argv, env, False  # the user chose their startup files; a login shell reads profiles
        return [argv[0], "--rcfile", str(directory() / "bash.sh"), *argv[1:]], env, True
    if kind == "zsh":
        zsh_dir = directory() / "zsh"
        if "ZDOTDIR" in env:  # else zsh's own default, $HOME (restored by unsetting it after start-up)
            env["CROWDCODE_USER_ZDOTDIR"] = env["ZDOTDIR"]
        env["CROWDCODE_SHELL_INTEGRATION_DIR"] = str(zsh_dir)
        env["ZDOTDIR"] = str(zsh_dir)
        return argv, env, True
    if kind == "fish":
        return (
            [argv[0], *argv[1:], "--init-command", f"source {_fish_quote(str(directory() / 'fish.fish'))}"],
            env,
            True,
        )
    return argv, env, False


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
