"""``crowdcode import PATH``: crowd-code 2.0 bundles become sessions of ours.

Each session in the bundle is recorded anew through :class:`~crowdcode_sdk.session.Session`, with
a clock set to every original timestamp, so the result is an ordinary session (journal, metadata,
panic, export) with crowd-code's times. Snapshots go into the snapshot store as
``<new session id>-<snapshotId>``.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import orjson

from ..clock import SetClock
from ..errors import SchemaError
from ..schema import EditorInfo, TerminalViewport, Viewport, decode_action
from ..serialize.snapshots import manifest_path, write_blob
from ..session import Session
from .crowd_code import Bundle, events_up, read_bundles


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "import",
        help="read crowd-code 2.0 bundles into new sessions",
        description="PATH: a directory of chunk_*.json (with snapshots/), a directory of "
        "source_part_*.tar.gz, or one source_part_*.tar.gz.",
    )
    p.add_argument("path", help="bundle directory or source_part_*.tar.gz")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    for bundle in read_bundles(Path(args.path)):
        session_id, skipped = import_bundle(bundle)
        note = f" (skipped: {', '.join(f'{k} x{n}' for k, n in sorted(skipped.items()))})" if skipped else ""
        print(f"crowd-code session {bundle.session_id} -> {session_id}{note}")
    return 0


def import_bundle(bundle: Bundle) -> tuple[str, Counter[str]]:
    """Record one bundle session as a new session; return its id and what was skipped."""
    clock = SetClock(bundle.start_time)
    skipped: Counter[str] = Counter()
    session = Session(adapter="crowd-code", editor=EditorInfo(name="vscode", host="crowd-code 2.0"), clock=clock)
    try:
        data_dir = session.locations.data_dir
        for event in events_up(bundle):
            clock.set(int(event.get("timestamp", 0)))
            kind = event.get("type")
            try:
                if kind == "action":
                    session.record(decode_action(event.get("action"), "action"))
                elif kind == "observation":
                    observation = event["observation"]
                    viewport = observation.get("viewport")
                    terminal = observation.get("activeTerminal")
                    session.observe(
                        Viewport.from_wire(viewport, "viewport") if viewport else None,
                        TerminalViewport.from_wire(terminal, "activeTerminal") if terminal else None,
                    )
                elif kind == "workspace_snapshot":
                    original = event["snapshotId"]
                    new_id = f"{session.id}-{original}"
                    files = bundle.snapshots.get(original)
                    if files is None:
                        skipped["missing snapshot file"] += 1
                    else:
                        manifest = {"files": {p: write_blob(data_dir, t.encode()) for p, t in files.items()}}
                        path = manifest_path(data_dir, new_id)
                        path.parent.mkdir(parents=True, exist_ok=True)
                        path.write_bytes(orjson.dumps({**manifest, "source": "crowd-code 2.0", "original": original}))
                    session.snapshot(new_id)
                else:
                    skipped[f"type {kind!r}"] += 1
            except (SchemaError, KeyError, TypeError) as exc:
                skipped[f"invalid {kind}: {str(exc)[:60]}"] += 1
    finally:
        session.close("imported")
    return session.id, skipped
