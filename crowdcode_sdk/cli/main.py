"""Entry point of the ``crowdcode`` command.

Subcommands are registered, not hard-wired: a module in the ``crowdcode.commands`` entry-point
group provides ``register(subparsers)``, which adds its parser and sets ``run=callable(args)``
returning an exit code. The core's commands register the same way, so that adapters (``shell``,
``nvim``, ``lsp``) slot in without the core knowing them.

Only the subcommand asked for is imported (``crowdcode shell`` starts the user's shell sooner for not
importing eleven other commands), and a registered command is found through a small index
(:mod:`.registry`) rather than ``importlib.metadata``; help, an unknown command or a command
registered by another command's module build the whole parser.

A :class:`~crowdcode_sdk.errors.CrowdcodeError` ends the command with one clear line on stderr and
exit status 2, never a traceback (so does a missing extra: :func:`crowdcode_sdk.extras.require`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ..errors import CrowdcodeError
from .registry import registered

CORE_COMMANDS = {
    "status_cmd": ("status",),
    "sessions_cmd": ("sessions", "show"),
    "export_cmd": ("export",),
    "panic_cmd": ("panic",),
    "config_cmd": ("config",),
    "verify_cmd": ("verify",),
}
"""The core's command modules (in this package) and the commands each registers."""


class _Parser(argparse.ArgumentParser):
    """Subcommands reject unknown options themselves, so that the error shows the subcommand's
    usage (``crowdcode shell --bogus``), not the top-level one. Nested subparsers inherit this."""

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        if extras and self.prog != "crowdcode":
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras


def _describe(subparsers: argparse._SubParsersAction) -> None:
    """A subcommand's ``--help`` opens with its one-line summary when it has no longer description."""
    summaries = {action.dest: action.help for action in subparsers._choices_actions}
    for name, sub in subparsers.choices.items():
        summary = summaries.get(name)
        if sub.description is None and summary:
            sub.description = f"{summary[0].upper()}{summary[1:]}."
        for action in sub._actions:
            if isinstance(action, argparse._SubParsersAction):
                _describe(action)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser for every command, or only for ``command`` when it is known by name."""
    from .. import __version__

    parser = _Parser(
        prog="crowdcode",
        description="Record how you write software: editors, terminals, agents. Local and private by default.",
    )
    parser.add_argument("--version", action="version", version=f"crowdcode {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    core = [module for module, names in CORE_COMMANDS.items() if command in names]
    chosen = [] if core else registered(command)
    if not core and not any(name == command for name, _ in chosen):
        core = list(CORE_COMMANDS)
    for module in core:
        importlib.import_module(f"{__package__}.{module}").register(subparsers)
    for name, load in chosen:
        try:
            load()(subparsers)
        except Exception as exc:  # a broken adapter must not take the whole CLI down
            print(f"crowdcode: warning: command {name!r} unavailable: {exc}", file=sys.stderr)
    _describe(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    named = next((word for word in words if not word.startswith("-")), None)
    parser = build_parser(named)
    args = parser.parse_args(words)
    run = getattr(args, "run", None)
    if run is None:
        parser.print_help()
        return 2
    try:
        return int(run(args) or 0)
    except CrowdcodeError as exc:
        print(f"crowdcode: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `crowdcode export … | head`
        return 0
    except OSError as exc:  # the environment, not a bug: a full disk, a file where a dir should be
        where = f": {exc.filename}" if exc.filename else ""
        print(f"crowdcode: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
