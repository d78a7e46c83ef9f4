"""The ``crowdcode shell`` subcommand (entry point ``crowdcode.commands``)."""

from __future__ import annotations

import argparse
import os
import sys


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
    """Run the session, then leave at once: the wrapper holds nothing that needs tearing down
    (the recorder finishes the session in its own process, the channel is closed), and the
    interpreter's own teardown of every module it loaded was a fifth of ``crowdcode shell --
    true``'s time (docs/benchmarks.md)."""
    from . import app  # imported on use: `crowdcode --help` need not load the recorder

    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    status = app.run(command)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
