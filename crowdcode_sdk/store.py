"""Reading what has been recorded: the sessions under the data directory and their events.

Each session directory has a ``session.json`` (metadata, written at start; end time, event count
and end reason added at close) beside its journal segments. A session whose process died has no
end: its end is taken from its last event and its torn final line, if any, is repaired.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from . import journal
from .clock import Anchor, MachineTime
from .errors import SessionNotFound
from .locations import Locations
from .schema import Event, decode_event

SESSION_FILE = "session.json"
LOCAL_KEYS = ("clock",)
"""Keys of ``session.json`` that never leave the machine (the clock anchor holds the boot id)."""


@dataclass(frozen=True)
class SessionInfo:
    id: str
    directory: Path
    metadata: dict[str, Any]
    start: int
    end: int | None
    event_count: int | None
    end_reason: str | None
    live: bool
    anchor: Anchor | None = None
    """Where its timestamps sit on the machine's clock (``None``: a session recorded before
    anchors, or imported)."""

    def now_ms(self, now: MachineTime) -> int:
        """``now`` in this session's timestamps, which privacy windows compare its events with."""
        if self.anchor is None:
            return time.time_ns() // 1_000_000
        return self.anchor.now_ms(now, self.end if self.end is not None else self.start)

    @property
    def editor(self) -> str:
        editor = self.metadata.get("editor", {})
        return " ".join(str(p) for p in (editor.get("name"), editor.get("version")) if p)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "adapter": self.metadata.get("adapter"),
            "editor": self.editor,
            "start": self.start,
            "end": self.end,
            "events": self.event_count,
            "endReason": self.end_reason,
            "live": self.live,
            "directory": str(self.directory),
        }


class Store:
    def __init__(self, locations: Locations | None = None) -> None:
        self.locations = locations or Locations.default()

    def sessions(self) -> list[SessionInfo]:
        """Every recorded session, oldest first."""
        root = self.locations.sessions_dir
        try:
            names = os.listdir(root)
        except FileNotFoundError:
            return []
        infos = [info for name in names if (info := self._load(root / name)) is not None]
        return sorted(infos, key=lambda i: (i.start, i.id))

    def find(self, ref: str) -> SessionInfo:
        """A session by id, unique id prefix, or ``latest``."""
        sessions = self.sessions()
        if not sessions:
            raise SessionNotFound("no sessions recorded yet")
        if ref == "latest":
            return sessions[-1]
        matches = [s for s in sessions if s.id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise SessionNotFound(f"no session matches {ref!r} (see `crowdcode sessions`)")
        raise SessionNotFound(f"{ref!r} matches {len(matches)} sessions; give more of the id")

    def lines(self, info: SessionInfo) -> Iterator[bytes]:
        return journal.read_lines(info.directory)

    def events(self, info: SessionInfo) -> Iterator[Event]:
        for line in self.lines(info):
            yield decode_event(line)

    def eligible_segments(self, info: SessionInfo, not_after_ms: int) -> list[Path]:
        """Segments that may leave the machine: sealed (no writer appends to them any more) and
        holding only events older than ``not_after_ms`` (now minus the hold-back window), so that
        a panic can still reach everything newer."""
        paths = journal.segments(info.directory)
        sealed = paths if not info.live else paths[:-1]
        eligible = []
        for path in sealed:
            last = b""
            for last in journal.read_lines_of(path):  # noqa: B007 - only the last line matters
                pass
            if last and _timestamp(last, not_after_ms) >= not_after_ms:
                break  # later segments are newer still
            eligible.append(path)
        return eligible

    def _load(self, directory: Path) -> SessionInfo | None:
        # Liveness first: a writer writes its end into the session file before it unlocks, so a
        # session not live now has its final file. Read the other way round, a session ending
        # between the two reads looked crashed (and had its closed journal repaired).
        live = journal.is_live(directory)
        try:
            data = orjson.loads((directory / SESSION_FILE).read_bytes())
            metadata = data["metadata"]
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError):
            return None
        end, count = data.get("end"), data.get("eventCount")
        reason = data.get("endReason")
        if end is None and not live:
            journal.repair(directory)
            end, count = metadata["startTime"], 0
            for line in journal.read_lines(directory):
                count += 1
                end = _timestamp(line, end)
            reason = "crashed"
        return SessionInfo(
            id=metadata["sessionId"],
            directory=directory,
            metadata=metadata,
            start=metadata["startTime"],
            end=end,
            event_count=count,
            end_reason=reason,
            live=live,
            anchor=anchor_of(data),
        )


def anchor_of(data: dict[str, Any]) -> Anchor | None:
    """The clock anchor of a ``session.json``'s contents, if it has one."""
    try:
        return Anchor.from_wire(data["clock"])
    except (KeyError, ValueError):
        return None


def _timestamp(line: bytes, default: int) -> int:
    try:
        return int(orjson.loads(line)["timestamp"])
    except (ValueError, KeyError, TypeError):
        return default
