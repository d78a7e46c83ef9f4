"""``crowdcode export SESSION --format crowd-code-2.0 -o DIR``: a crowd-code 2.0 bundle."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import BinaryIO

from .. import journal
from ..errors import CrowdcodeError
from ..serialize.snapshots import store_loader
from ..store import SessionInfo, Store
from ..timeline import with_workspace_events
from .crowd_code import DownMapper, chunk_events, write_bundle
from .redaction import ExportRedaction


class CrowdCodeExporter:
    help = "crowd-code 2.0 bundle: chunk_NNN.json, snapshots/ and source_part_NNN.tar.gz in the directory -o DIR"
    writes_directory = True

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--chunk-minutes",
            type=float,
            default=5.0,
            help="crowd-code-2.0: minutes of recording per chunk (default: 5, as crowd-code)",
        )

    def export(self, store: Store, info: SessionInfo, args: argparse.Namespace, out: BinaryIO | None) -> None:
        target = Path(args.output)
        if target.exists() and not target.is_dir():
            raise CrowdcodeError(f"{target} exists and is not a directory")
        if target.is_dir() and any(target.glob("chunk_*.json")):
            raise CrowdcodeError(f"{target} already holds a bundle; give an empty or new directory")
        redaction = ExportRedaction(store, redact=not args.no_redact)
        summary = export_bundle(store, info, target, period_ms=int(args.chunk_minutes * 60_000), redaction=redaction)
        print(summary, file=sys.stderr)


def export_bundle(
    store: Store,
    info: SessionInfo,
    target: Path,
    period_ms: int = 5 * 60_000,
    redaction: ExportRedaction | None = None,
) -> str:
    """Write ``info``'s session as a crowd-code 2.0 bundle into ``target``; return a summary.
    ``redaction``: what the events and snapshot files go through (None: written as recorded)."""
    redaction = redaction or ExportRedaction(store, redact=False)
    mapper = DownMapper()
    timeline = redaction.events(with_workspace_events(info.directory, journal.decoded(store.lines(info))))
    events = [mapped for event in timeline if (mapped := mapper.map(event)) is not None]
    chunks = chunk_events(events, info.start, period_ms)
    load = store_loader(store.locations.data_dir)
    snapshots = {}
    for original, new in mapper.snapshot_ids.items():
        files = load(original)
        if files is not None:
            snapshots[new] = redaction.files(files)
    parts = write_bundle(target, info.id, info.start, chunks, snapshots)
    dropped = ", ".join(f"{kind} x{count}" for kind, count in sorted(mapper.dropped.items())) or "nothing"
    return (
        f"wrote {len(events)} events in {len(chunks)} chunks, {len(snapshots)} snapshots, "
        f"{len(parts)} source parts to {target} (dropped: {dropped})"
    )
