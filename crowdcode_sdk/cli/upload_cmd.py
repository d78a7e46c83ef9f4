"""``crowdcode upload``: show the upload queue, or upload what is eligible now (``--now``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from ..errors import CrowdcodeError
from ..locations import Locations
from ..upload.queue import Entry, UploadQueue
from ..upload.stats import read_stats
from ._format import local_time, size


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("upload", help="upload eligible recordings now, or show the upload queue")
    p.add_argument("--now", action="store_true", help="build and send everything eligible, ignoring retry delays")
    p.add_argument(
        "--retry-rejected", action="store_true", help="send bundles the server refused once more (after a server fix)"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    locations = Locations.default()
    if args.retry_rejected:
        queue = UploadQueue(locations)
        for entry in queue.entries():
            if entry.rejected:
                entry.rejected = None
                entry.next_attempt = 0
                queue.save(entry)
    if not args.now:
        return show(locations)
    from tqdm import tqdm

    from ..upload.worker import Uploader

    bars: list[tqdm] = []

    def progress(entries: list[Entry]) -> Callable[[int], object]:
        bar = tqdm(
            total=sum(e.size for e in entries),
            unit="B",
            unit_scale=True,
            desc="uploading",
            disable=not sys.stderr.isatty(),
        )
        bars.append(bar)
        return bar.update

    report = Uploader(locations, log=lambda m: None).run_once(force=True, wait=True, progress=progress)
    for bar in bars:
        bar.close()
    if report.skipped:
        raise CrowdcodeError(f"nothing uploaded: {report.skipped}")
    print(
        f"Built {report.built} bundle{'s' if report.built != 1 else ''}; "
        f"sent {report.sent} ({size(report.sent_bytes)})."
    )
    for line in report.failed:
        print(f"  failed, will retry: {line}")
    for line in report.rejected:
        print(f"  rejected by the server (kept locally): {line}")
    return 1 if report.failed or report.rejected else 0


def show(locations: Locations) -> int:
    entries = UploadQueue(locations).entries()
    stats = read_stats(locations)
    print(
        f"Uploaded so far: {stats.get('uploadedBundles', 0)} bundles, {size(stats.get('uploadedBytes', 0))}, "
        f"last {local_time(stats.get('lastUpload'))}"
    )
    if stats.get("lastError"):
        print(f"Last error: {stats['lastError']}")
    if not entries:
        print("Queue: empty")
    for e in entries:
        state = (
            f"rejected: {e.rejected}"
            if e.rejected
            else (f"attempts {e.attempts}, next {local_time(e.next_attempt)}" if e.attempts else "ready")
        )
        print(f"  {e.sha256[:12]}  {size(e.size):>9}  {e.events} events  {state}")
    return 0
