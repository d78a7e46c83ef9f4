"""Removing a panic's window from a terminal's spool (``<session>/terminals/<id>.spool``).

``crowdcode shell``'s recorder moves the terminal's bytes into a spool file before it handles them
(``crowdcode_shell.spool``): during a flood they wait there for seconds, and a recorder that died
leaves its spool for the next start to add to the cast. A panic must reach those bytes too — in a
live recorder (which calls this from its panic hook) and after it is gone (the core's panic of an
ended session) — so the frame layout lives here and the shell's channel uses it.

Frames are ``kind (1 byte) | length (4) | monotonic time (8, seconds) | payload``; the time is the
machine's ``CLOCK_MONOTONIC`` (:mod:`crowdcode_sdk.clock`). A removed frame keeps its place and
length (the file is being appended to and read at offsets), its kind becomes :data:`REMOVED` and
its payload zeros: readers skip it, and the typed or printed bytes are gone from the disk.
"""

from __future__ import annotations

import contextlib
import os
import struct
from pathlib import Path

FRAME_HEADER = struct.Struct("<cId")
OUTPUT = b"o"
INPUT = b"i"
REMOVED = b"-"
"""A frame a panic removed."""


def remove_since(fd: int, end: int, cutoff_s: float) -> int:
    """Overwrite every output and input frame in the file's first ``end`` bytes (whole frames
    from offset 0) stamped at or after ``cutoff_s``; returns how many were removed."""
    data = os.pread(fd, end, 0)
    end = len(data)
    position = removed = 0
    while end - position >= FRAME_HEADER.size:
        kind, length, stamp = FRAME_HEADER.unpack_from(data, position)
        stop = position + FRAME_HEADER.size + length
        if stop > end:
            break
        if kind in (OUTPUT, INPUT) and stamp >= cutoff_s:
            os.pwrite(fd, FRAME_HEADER.pack(REMOVED, length, stamp) + bytes(length), position)
            removed += 1
        position = stop
    return removed


def remove_from_session(session_dir: Path, cutoff_s: float) -> int:
    """A panic of a session whose recorder is gone: every spool it left, cut at ``cutoff_s``."""
    removed = 0
    for path in sorted((session_dir / "terminals").glob("*.spool")):
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:  # recovered meanwhile by a new recorder
            continue
        try:
            removed += remove_since(fd, os.fstat(fd).st_size, cutoff_s)
            os.fsync(fd)
        finally:
            os.close(fd)
    return removed


def panic_gaps_s(session_dir: Path) -> list[tuple[float, float]]:
    """The windows the session's panics removed, on the frames' clock (s), widened by 1 ms on
    either side: frames a recorder took into its spool after its panic hook ran, and died before
    it skipped them, are left out when its spool is recovered. None for a session without a
    clock anchor (recorded before anchors existed)."""
    # Imported here: the shell's pass-through loop imports this module for the frame layout
    # alone, and its start-up time counts.
    import orjson

    from . import journal
    from .store import SESSION_FILE, anchor_of

    anchor = None
    with contextlib.suppress(OSError, orjson.JSONDecodeError):
        anchor = anchor_of(orjson.loads((session_dir / SESSION_FILE).read_bytes()))
    if anchor is None:
        return []
    offset = anchor.at.monotonic_ms - anchor.wall_ms
    gaps = []
    for event in journal.decoded(journal.read_lines(session_dir)):
        action = event.get("action") or {}
        if action.get("kind") == "panic":
            gaps.append(((action["gapStart"] - 1 + offset) / 1000, (action["gapEnd"] + 1 + offset) / 1000))
    return gaps
