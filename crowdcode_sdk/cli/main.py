"""Entry point of the ``crowdcode`` command.

Subcommands are registered, not hard-wired: a module in the ``crowdcode.commands`` entry-point
group provides ``register(subparsers)``, which adds its parser and sets ``run=callable(args)``
returning an exit code. The core's commands register the same way, so that adapters (``shell``,
``nvim``, ``lsp``) slot in without the core knowing them.

A :class:`~crowdcode_sdk.errors.CrowdcodeError` ends the command with one clear line on stderr and
exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from ..dataset import cli as dataset_cmd
from ..errors import CrowdcodeError
from . import config_cmd, export_cmd, panic_cmd, sessions_cmd, status_cmd, verify_cmd

CORE_COMMANDS = (status_cmd, sessions_cmd, export_cmd, panic_cmd, config_cmd, verify_cmd, dataset_cmd)


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="crowdcode",
        description="Record how you write software: editors, terminals, agents. Local and private by default.",
    )
    parser.add_argument("--version", action="version", version=f"crowdcode {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in CORE_COMMANDS:
        module.register(subparsers)
    for entry in sorted(entry_points(group="crowdcode.commands"), key=lambda e: e.name):
        try:
            entry.load()(subparsers)
        except Exception as exc:  # a broken adapter must not take the whole CLI down
            print(f"crowdcode: warning: command {entry.name!r} unavailable: {exc}", file=sys.stderr)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
