"""The ``crowdcode shell`` subcommand (entry point ``crowdcode.commands``)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "shell",
        help="run your shell (or a command) in a recorded terminal",
        description="Run $SHELL, or `-- COMMAND ARGS...`, in a pseudo-terminal that passes everything through "
        "and records commands, typed input (never at password prompts), output and the rendered screen. "
        "See docs/shell.md.",
    )
    p.add_argument("command", nargs=argparse.REMAINDER, help="the command to run instead of $SHELL (after --)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from . import app  # imported on use: `crowdcode --help` need not load the recorder

    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    return app.run(command)
