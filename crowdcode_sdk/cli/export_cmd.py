"""``crowdcode export``: a session's events in another format.

Formats are pluggable: the ``crowdcode.exporters`` entry-point group maps a format name to an
object with ``help``, ``add_arguments(parser)`` and ``export(store, info, args, out)`` (``out`` a
binary stream; an exporter with ``writes_directory = True`` gets ``None`` and writes into the
directory given with ``-o``). Every format is redacted as an upload is, unless ``--no-redact``
(:mod:`crowdcode_sdk.export.redaction`). ``jsonl`` — the events as journaled, with the workspace events that the session owning the
workspace recorded while this one ran merged in (``crowdcode_sdk.timeline``) — is built in.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from importlib.metadata import entry_points
from typing import BinaryIO, Protocol

import orjson

from .. import journal
from ..errors import CrowdcodeError
from ..export.redaction import ExportRedaction
from ..store import SessionInfo, Store
from ..timeline import with_workspace_events
from ..verification import verify


class Exporter(Protocol):
    help: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def export(self, store: Store, info: SessionInfo, args: argparse.Namespace, out: BinaryIO) -> None: ...


class JsonLinesExporter:
    help = "the events, one JSON object per line, in sequence order (with the workspace's events)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        pass

    def export(self, store: Store, info: SessionInfo, args: argparse.Namespace, out: BinaryIO) -> None:
        timeline = with_workspace_events(info.directory, journal.decoded(store.lines(info)))
        for event in ExportRedaction(store, redact=not args.no_redact).events(timeline):
            out.write(orjson.dumps(event) + b"\n")


def warn_unverified(info: SessionInfo, store: Store) -> None:
    """An export is still written, but whoever trains on it is told that it does not replay."""
    try:
        verdict = verify(info, store)
    except CrowdcodeError as exc:
        print(f"crowdcode: warning: session {info.id} cannot be verified: {exc}", file=sys.stderr)
        return
    if not verdict.ok:
        print(f"crowdcode: warning: session does not verify: {verdict.summary()}", file=sys.stderr)


def exporters() -> dict[str, Exporter]:
    found: dict[str, Exporter] = {"jsonl": JsonLinesExporter()}
    for entry in entry_points(group="crowdcode.exporters"):
        with contextlib.suppress(Exception):
            found.setdefault(entry.name, entry.load()())
    return found


def register(subparsers: argparse._SubParsersAction) -> None:
    available = exporters()
    p = subparsers.add_parser(
        "export",
        help="write a session in another format",
        description="Formats: " + "; ".join(f"{name}: {e.help}" for name, e in available.items()),
    )
    p.add_argument("session", help="session id, unique id prefix, or 'latest'")
    p.add_argument("--format", default="jsonl", choices=sorted(available), help="output format (default: jsonl)")
    p.add_argument("-o", "--output", help="output file (default: standard output); a directory for crowd-code-2.0")
    p.add_argument(
        "--no-redact",
        action="store_true",
        help="write what was recorded, secrets, home path and user name included (by default an export"
        " is redacted as an upload is: docs/privacy.md)",
    )
    for exporter in available.values():
        exporter.add_arguments(p)
    p.set_defaults(run=run, _exporters=available)


def run(args: argparse.Namespace) -> int:
    store = Store()
    info = store.find(args.session)
    exporter = args._exporters[args.format]
    warn_unverified(info, store)
    if getattr(exporter, "writes_directory", False):
        if args.output in (None, "-"):
            raise CrowdcodeError(f"--format {args.format} writes a directory: give it with -o DIR")
        exporter.export(store, info, args, None)
        return 0
    if args.output in (None, "-"):
        exporter.export(store, info, args, sys.stdout.buffer)
        sys.stdout.flush()
        return 0
    try:
        with open(args.output, "wb") as out:
            exporter.export(store, info, args, out)
    except OSError as exc:
        raise CrowdcodeError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    return 0
