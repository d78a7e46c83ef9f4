"""``crowdcode upload``: show the upload queue, or upload what is eligible now (``--now``)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from ..clock import MachineTime
from ..config import Config
from ..errors import CrowdcodeError
from ..locations import Locations
from ..store import Store
from ..upload.queue import Entry, UploadQueue
from ..upload.stats import read_stats
from ._format import duration, local_time, size


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
    if not report.built and not report.sent:
        for line in held_back(locations):
            print(line)
    for line in report.failed:
        print(f"  failed, will retry: {line}")
    for line in report.rejected:
        print(f"  rejected by the server (kept locally): {line}")
    return 1 if report.failed or report.rejected else 0


def held_back(locations: Locations) -> list[str]:
    """Why recordings on this machine did not leave: nothing is sent before it is older than the
    hold-back window (900 s by default), so an upload right after a first session sends nothing,
    which without this line looks like a fault."""
    hold_back_s = Config.load(locations)["privacy.hold_back_s"]
    now = MachineTime.now()
    live = 0
    waits: list[int] = []
    for info in Store(locations).sessions():
        if info.live:
            live += 1
        elif info.end is not None and (wait := info.end + hold_back_s * 1000 - info.now_ms(now)) > 0:
            waits.append(wait)
    lines = []
    if waits:
        first = min(waits)
        at = local_time(time.time_ns() // 1_000_000 + first)
        lines.append(
            f"Held back: {len(waits)} ended session{'s' if len(waits) != 1 else ''} younger than "
            f"privacy.hold_back_s ({hold_back_s} s, for `crowdcode panic`); the first may leave from "
            f"{at} (in {duration(first)})."
        )
    if live:
        lines.append(
            f"Still recording: {live} session{'s' if live != 1 else ''}; events leave once older than "
            f"{hold_back_s} s, from journal segments already closed, the rest after the session ends."
        )
    return lines


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
        for line in held_back(locations):
            print(line)
    for e in entries:
        state = (
            f"rejected: {e.rejected}"
            if e.rejected
            else (f"attempts {e.attempts}, next {local_time(e.next_attempt)}" if e.attempts else "ready")
        )
        print(f"  {e.sha256[:12]}  {size(e.size):>9}  {e.events} events  {state}")
    return 0
