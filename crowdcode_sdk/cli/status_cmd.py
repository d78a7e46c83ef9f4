"""``crowdcode status``: is anything recording, what is waiting, what would leave and when."""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from typing import Any

import orjson

from .. import journal
from ..clock import MachineTime
from ..config import Config
from ..errors import CrowdcodeError
from ..locations import Locations
from ..registry import live_sessions, request
from ..store import SessionInfo, Store
from ..stuck_viewport import stuck_viewport
from ..upload.quarantine import Quarantine
from ..verification import cached_verify
from ._format import duration, local_time, size
from .privacy_status import print_privacy, privacy_status

RECENT_MS = 3600 * 1000
"""Sessions ended this recently (or within the hold-back window, if longer) are checked for a
stuck viewport, as live ones are."""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("status", help="what is recording now, what is held back, consent")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=run)


def collect(locations: Locations, now: MachineTime) -> dict[str, Any]:
    config = Config.load(locations)
    hold_back_ms = config["privacy.hold_back_s"] * 1000
    live = []
    for entry in live_sessions(locations):
        try:
            answer = request(entry, "status", timeout=2)
        except (OSError, ValueError):
            answer = {}
        live.append({**entry, **{k: v for k, v in answer.items() if k != "ok"}})
    stored = held_back = 0
    used = 0
    unverified: list[str] = []
    suspicious: dict[str, str] = {}
    sessions = Store(locations).sessions()
    # A live session's file has no count until it ends; its recorder said how many it has.
    live_events = {entry.get("sessionId"): entry.get("events") for entry in live}
    for info in sessions:
        counted = live_events.get(info.id) if info.live else info.event_count
        stored += counted if isinstance(counted, int) else 0
        if not info.live and not _verified(info):
            unverified.append(info.id)
        used += _disk_usage(info.directory)
        session_now = info.now_ms(now)  # as the uploader measures it
        cutoff = session_now - hold_back_ms
        if info.live or (info.end is not None and info.end >= session_now - max(hold_back_ms, RECENT_MS)):
            lines = list(journal.read_lines(info.directory))
            held_back += sum(1 for line in lines if _ts(line) >= cutoff)
            stuck = stuck_viewport(journal.decoded(lines))
            if stuck:
                suspicious[info.id] = stuck
    privacy = privacy_status(locations, config)
    return {
        **privacy,
        "recordingEnabled": config["recording.enabled"],
        "consent": config["consent.status"],
        "live": live,
        "sessions": len(sessions),
        "eventsStored": stored,
        "unverifiedSessions": unverified,
        "quarantinedSessions": Quarantine(locations).sessions(),
        "suspiciousSessions": suspicious,
        "eventsHeldBack": held_back,
        "holdBackSeconds": config["privacy.hold_back_s"],
        "storageBytes": used,
        "dataDir": str(locations.data_dir),
    }


def run(args: argparse.Namespace) -> int:
    now = time.time_ns() // 1_000_000  # for showing how long sessions have been running
    status = collect(Locations.default(), MachineTime.now())
    if args.json:
        print(orjson.dumps(status, option=orjson.OPT_INDENT_2).decode())
        return 0
    if not status["recordingEnabled"]:
        print("Recording is OFF (crowdcode config set recording.enabled true).")
    live = status["live"]
    if live:
        print(f"Recording: {len(live)} live session{'s' if len(live) != 1 else ''}")
        for entry in live:
            editor = entry.get("editor", {}).get("name", "?")
            since = duration(now - entry.get("startTime", now))
            problem = f"  !! {entry['problem']}" if entry.get("problem") else ""
            print(
                f"  {entry['sessionId'][:12]}  {entry.get('adapter', '?'):<6} {editor:<12} for {since:>7}  "
                f"{entry.get('events', '?')} events  {entry.get('workspace') or ''}{problem}"
            )
    else:
        print("Recording: nothing right now")
    consent = status["consent"]
    meaning = {
        "accepted": "uploads allowed",
        "declined": "data stays on this machine",
        "pending": "nothing is uploaded",
    }
    print(f"Consent: {consent} ({meaning.get(consent, '')})")
    print(
        f"Stored: {status['eventsStored']} events in {status['sessions']} session{'s' if status['sessions'] != 1 else ''}, "
        f"{size(status['storageBytes'])} in {status['dataDir']}"
    )
    unverified = status["unverifiedSessions"]
    ended = status["sessions"] - len(live)
    if unverified:
        print(
            f"Verified: {ended - len(unverified)} of {ended} ended sessions; "
            f"{len(unverified)} do not replay to what they recorded (crowdcode verify --all)"
        )
    else:
        print(f"Verified: all {ended} ended sessions replay to what they recorded")
    print(
        f"Held back: {status['eventsHeldBack']} events newer than {status['holdBackSeconds']} s "
        f"(panic can still remove them; nothing that new ever leaves)"
    )
    for session_id, reason in status["quarantinedSessions"].items():
        print(f"Quarantined: session {session_id}: {reason}")
    for session_id, reason in status["suspiciousSessions"].items():
        print(f"Suspicious: session {session_id}: {reason}")
    print_privacy(status)
    return 0


def _verified(info: SessionInfo) -> bool:
    try:
        return cached_verify(info).ok
    except CrowdcodeError:
        return False


def _ts(line: bytes) -> int:
    try:
        return int(orjson.loads(line)["timestamp"])
    except (ValueError, KeyError, TypeError):
        return 0


def _disk_usage(directory: os.PathLike[str]) -> int:
    total = 0
    for root, _dirs, files in os.walk(directory):
        for name in files:
            with contextlib.suppress(OSError):  # removed meanwhile
                total += os.stat(os.path.join(root, name)).st_size
    return total


__all__ = ["collect", "local_time", "register", "run"]
