"""The upload queue: bundles built and waiting to be sent, on disk so that it survives restarts.

``<data>/upload/queue/<sha256>.tar.zst`` holds a bundle's bytes and ``<sha256>.json`` its entry:
the local files it covers (deleted once the server acknowledges the hash), its retry state and,
for a bundle the server refused for good, the reason. The entry is written after the bytes and
atomically, so a crash mid-build leaves an orphan bundle (removed an hour later), never an
entry without its bytes.
"""

from __future__ import annotations

import contextlib
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ..clock import MachineTime
from ..locations import Locations, private_dir, write_private_atomic

BUNDLE_SUFFIX = ".tar.zst"
ORPHAN_GRACE_S = 3600


@dataclass
class Entry:
    sha256: str
    size: int
    created_at: int
    events: int
    segments: list[str] = field(default_factory=list)
    """Journal segments (absolute local paths) the bundle carries."""
    final_sessions: list[str] = field(default_factory=list)
    """Session directories whose last data the bundle carries: removed whole after the ack."""
    snapshots: list[str] = field(default_factory=list)
    """Snapshot manifests (absolute local paths) to delete after the ack: a finished session's."""
    redactions: dict[str, int] = field(default_factory=dict)
    attempts: int = 0
    next_attempt: int = 0
    last_error: str | None = None
    rejected: str | None = None
    built: dict[str, Any] | None = None
    """When it was built, on the machine's clock (:class:`~crowdcode_sdk.clock.MachineTime`)."""

    def built_since(self, cutoff: MachineTime) -> bool:
        """Whether it was built at or after ``cutoff``; an entry that cannot tell says yes (a
        bundle dropped is built again, one kept may carry what a panic removed)."""
        try:
            built = MachineTime.from_wire(self.built)
        except ValueError:
            return True
        if (
            built.boot != cutoff.boot
        ):  # built in an earlier boot: before the cutoff, unless that reaches back past this boot's start
            return cutoff.monotonic_ms < 0
        return built.monotonic_ms >= cutoff.monotonic_ms

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_json(cls, data: bytes) -> Entry:
        return cls(**orjson.loads(data))


def backoff_ms(attempts: int, base_s: float, max_s: float, rng: random.Random | None = None) -> int:
    """Delay before retry number ``attempts`` (1 = first retry): exponential with full jitter.

    Full jitter (a uniform draw below the exponential bound) keeps thousands of clients that
    failed together from retrying together when the server comes back.
    """
    bound = min(max_s, base_s * (2 ** max(attempts - 1, 0)))
    return int((rng or random).uniform(bound / 2, bound) * 1000)


class UploadQueue:
    def __init__(self, locations: Locations) -> None:
        self.directory = locations.data_dir / "upload" / "queue"

    def _paths(self, sha: str) -> tuple[Path, Path]:
        return self.directory / f"{sha}{BUNDLE_SUFFIX}", self.directory / f"{sha}.json"

    def bundle_path(self, entry: Entry) -> Path:
        return self._paths(entry.sha256)[0]

    def add(self, entry: Entry, data: bytes) -> None:
        bundle, meta = self._paths(entry.sha256)
        write_private_atomic(bundle, data)
        write_private_atomic(meta, entry.to_json())

    def save(self, entry: Entry) -> None:
        write_private_atomic(self._paths(entry.sha256)[1], entry.to_json())

    def entries(self) -> list[Entry]:
        """Every queued bundle, oldest first; orphaned or broken files are cleaned up."""
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        entries = []
        for name in names:
            path = self.directory / name
            if name.endswith(".json"):
                try:
                    entry = Entry.from_json(path.read_bytes())
                except (OSError, ValueError, TypeError):
                    continue
                if self.bundle_path(entry).exists():
                    entries.append(entry)
            elif name.endswith(".tmp") or (
                name.endswith(BUNDLE_SUFFIX) and not (self.directory / name.replace(BUNDLE_SUFFIX, ".json")).exists()
            ):
                # A write cut short (the entry is written after its bundle); an hour of grace so
                # that a build in progress in another process is left alone.
                with contextlib.suppress(OSError):
                    if path.stat().st_mtime < time.time() - ORPHAN_GRACE_S:
                        path.unlink()
        return sorted(entries, key=lambda e: (e.created_at, e.sha256))

    def covered(self) -> set[str]:
        """Segments and finished sessions some queued bundle already carries (not to bundle again)."""
        paths: set[str] = set()
        for entry in self.entries():
            paths.update(entry.segments, entry.final_sessions)
        return paths

    def remove(self, entry: Entry) -> None:
        for path in self._paths(entry.sha256)[::-1]:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def drop_built_since(self, cutoff: MachineTime) -> int:
        """Panic: drop the bundles built at or after ``cutoff`` — they may carry what the panic
        removed (with a hold-back shorter than its reach) — and the redaction state of their
        sessions, which has read them. Nothing is lost: the recordings stay, and the next build
        bundles what the panic left of them."""
        dropped = [entry for entry in self.entries() if entry.built_since(cutoff)]
        sessions: set[str] = set()
        for entry in dropped:
            self.remove(entry)
            sessions.update(Path(p).parent.name for p in entry.segments)
            sessions.update(Path(p).name for p in entry.final_sessions)
        states = self.directory.parent / "redactors"
        for session_id in sessions:
            with contextlib.suppress(OSError):
                (states / f"{session_id}.pickle").unlink()
        return len(dropped)

    def clear(self) -> int:
        """Drop every queued bundle (consent withdrawn); the recordings themselves stay."""
        entries = self.entries()
        for entry in entries:
            self.remove(entry)
        states = self.directory.parent / "redactors"
        if states.is_dir():
            for path in states.iterdir():
                with contextlib.suppress(OSError):
                    path.unlink()
        return len(entries)

    def ensure(self) -> Path:
        return private_dir(self.directory)

    @staticmethod
    def describe(entry: Entry) -> dict[str, Any]:
        return {
            "sha256": entry.sha256,
            "size": entry.size,
            "events": entry.events,
            "attempts": entry.attempts,
            "lastError": entry.last_error,
            "rejected": entry.rejected,
        }
