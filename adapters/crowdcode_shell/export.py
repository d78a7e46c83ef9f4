"""``crowdcode export SESSION --format asciicast``: a recorded terminal as a plain asciicast file
that asciinema plays (v2 by default, v3 with ``--asciicast-version 3``)."""

from __future__ import annotations

import argparse
import sys
from typing import BinaryIO

from crowdcode_sdk.errors import CrowdcodeError
from crowdcode_sdk.export.redaction import ExportRedaction
from crowdcode_sdk.store import SessionInfo, Store

from . import abandoned
from .asciicast import parse_cast, to_v2, to_v3


def _warn(message: str) -> None:
    print(f"crowdcode: warning: {message}", file=sys.stderr)


class AsciicastExporter:
    help = "a recorded terminal as asciicast (plays in asciinema)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--asciicast-version", type=int, choices=(2, 3), default=2, help="asciicast version (default: 2)"
        )
        parser.add_argument("--terminal", help="terminal id, when a session recorded several (asciicast)")

    def export(self, store: Store, info: SessionInfo, args: argparse.Namespace, out: BinaryIO) -> None:
        abandoned.recover_all(store.locations, _warn, session=info.id)  # a recorder that died
        casts = sorted((info.directory / "terminals").glob("*.cast"))
        if args.terminal:
            casts = [c for c in casts if c.stem == args.terminal]
        if not casts:
            raise CrowdcodeError(
                f"session {info.id} has no recorded terminal" + (f" {args.terminal!r}" if args.terminal else "")
            )
        if len(casts) > 1:
            names = ", ".join(c.stem for c in casts)
            raise CrowdcodeError(f"session {info.id} recorded several terminals ({names}): choose one with --terminal")
        redaction = ExportRedaction(store, redact=not args.no_redact)
        header, events = parse_cast(redaction.cast(info, casts[0].read_bytes()).splitlines())
        lines = to_v3(header, events) if args.asciicast_version == 3 else to_v2(header, events)
        for line in lines:
            out.write(line + b"\n")
