"""Spools left behind by a recorder that died (``kill -9``, an out-of-memory kill, a power cut).

The recorder moves the channel's frames into ``terminals/<id>.spool`` before it handles them
(:mod:`.spool`); when it dies, the frames it had not handled — and the last ones it had handled
but not yet flushed to the cast — are still there. The next recorder to start (or ``crowdcode export
--format asciicast`` of that session) adds them to the end of that terminal's cast, after a marker that says so, and removes the spool. Frames are told
apart from what the cast holds by their time: the channel's frames carry the wrapper's monotonic
clock, which the cast's header records as its time 0. Commands, agents and screens of those frames
are not rebuilt: the journal keeps what the recorder had recorded before it died. Typed and printed
frames inside a panic's window (the journal's markers) are left out: the recorder would have
skipped them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from crowdcode_sdk import Locations, terminal_spools
from crowdcode_sdk.registry import live_sessions

from . import channel
from .asciicast import CastWriter, read_cast
from .input_filter import typed


def left(locations: Locations, session: str = "*") -> list[Path]:
    """The spools of sessions whose recorder is gone (of every session, or of the one whose id is
    ``session``)."""
    live = {entry.get("sessionId") for entry in live_sessions(locations)}
    spools = sorted(locations.sessions_dir.glob(f"{session}/terminals/*.spool"))
    return [path for path in spools if path.parent.parent.name not in live]


def recover_all(locations: Locations, on_problem: Callable[[str], None], session: str = "*") -> int:
    """Recover every spool of a session whose recorder is gone (of every session, or of the one
    whose id is ``session``); the number recovered."""
    recovered = 0
    for spool_path in left(locations, session):
        try:
            recover(spool_path)
            recovered += 1
        except (OSError, ValueError) as exc:
            on_problem(f"a spool left by a recorder that died could not be recovered: {exc}")
    return recovered


def recover(spool_path: Path) -> None:
    """Append the spool's frames that its cast does not hold, then remove the spool."""
    cast_path = spool_path.with_suffix(".cast")
    data = bytearray(spool_path.read_bytes())
    frames, _ = channel.complete_frames(data, len(data))
    header, events = read_cast(cast_path)
    if header.start_monotonic is None:
        raise ValueError(f"{cast_path.name} has no start time to place the spool's frames")
    _cut_torn_line(cast_path)
    last = max((float(event[0]) for event in events), default=0.0)
    start = header.start_monotonic
    removed = terminal_spools.panic_gaps_s(spool_path.parent.parent)
    missing = [
        frame
        for frame in frames
        if round(frame.time - start, 6) > last
        and not (frame.kind in (channel.OUTPUT, channel.INPUT) and any(a <= frame.time <= b for a, b in removed))
    ]
    if missing:
        cast = CastWriter(cast_path, header, start, append=True)
        cast.marker(missing[0].time, "crowdcode: recovered from the spool of a recorder that died")
        for frame in missing:
            _append(cast, frame)
        cast.close()
        if cast.error:
            raise cast.error
    spool_path.unlink()


def _append(cast: CastWriter, frame: channel.Frame) -> None:
    if frame.kind == channel.OUTPUT:
        cast.output(frame.time, frame.data)
    elif frame.kind == channel.INPUT and (keys := typed(frame.data)):
        cast.input(frame.time, keys)
    elif frame.kind == channel.RESIZE:
        cols, rows = (int(n) for n in frame.data.split(b"x"))
        cast.resize(frame.time, cols, rows)
    elif frame.kind == channel.GAP:
        cast.marker(frame.time, f"crowdcode: {int.from_bytes(frame.data, 'little')} bytes not recorded")
    elif frame.kind == channel.EXIT:
        cast.exit(frame.time, int(frame.data))


def _cut_torn_line(path: Path) -> None:
    """A recorder killed mid-write leaves half a line at the end: appending after it would glue
    the next event to it."""
    with open(path, "rb+") as f:
        size = f.seek(0, os.SEEK_END)
        if not size:
            return
        f.seek(max(size - (1 << 20), 0))
        tail = f.read()
        if tail.endswith(b"\n"):
            return
        cut = tail.rfind(b"\n")
        with contextlib.suppress(OSError):
            f.truncate(size - len(tail) + cut + 1 if cut >= 0 else 0)
