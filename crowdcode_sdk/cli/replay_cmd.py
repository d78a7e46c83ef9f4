"""``crowdcode replay SESSION --into DIR [--at SEQUENCE]``: rebuild a recorded workspace."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..attribution.replay import materialise
from ..store import Store


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "replay",
        help="rebuild a session's workspace as it was at any event",
        description="Write the workspace's text files as they were after event SEQUENCE (default: the last), "
        "from the session's workspace snapshots, saves and file changes.",
    )
    p.add_argument("session", help="session id, unique id prefix, or 'latest'")
    p.add_argument("--into", required=True, type=Path, help="a new or empty directory to write the files into")
    p.add_argument("--at", type=int, metavar="SEQUENCE", help="the event sequence to stop after (default: the last)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    store = Store()
    info = store.find(args.session)
    result = materialise(store, info, args.into, args.at)
    print(f"{result.files} files as of event {result.sequence} (from snapshot {result.snapshot_id}) in {args.into}")
    if result.skipped:
        print(
            f"not rebuilt ({len(result.skipped)}): {', '.join(result.skipped[:10])}"
            + (" …" if len(result.skipped) > 10 else "")
        )
    return 0
