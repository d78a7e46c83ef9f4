"""Where the serializer reads sessions from: our session directories or crowd-code 2.0 bundles.

A :class:`SessionSource` is a small picklable reference, so that workers (processes, Ray tasks)
open and read the session themselves and only results travel back.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .. import journal
from ..errors import CrowdcodeError
from ..export.crowd_code import events_up, is_bundle, read_bundles
from ..store import SESSION_FILE, Store
from ..timeline import with_workspace_events
from ..verification import Snapshots, TextSnapshots, Verifier
from .casts import CastReader
from .snapshots import SnapshotLoader, store_loader
from .timeline import merge


@dataclass(frozen=True)
class SessionSource:
    kind: str  # "journal" | "crowd-code"
    path: str
    session_id: str
    data_dir: str | None = None
    """For journals: the data directory whose ``snapshots/`` the session's snapshots are in."""
    contributor: str = ""
    """A pseudonym of who recorded it (datasets split by it, so no one is in two splits);
    empty: split by session."""
    merged: tuple[SessionSource, ...] = ()
    """Sessions read as one timeline with this one (:mod:`.timeline`): the same contributor's
    sessions of the same workspace that overlap in time. This one started first and names it."""
    masked_after_verifying: bool = False
    """An upload whose every bundle says the session verified before it was redacted: a hash
    of a file whose replayed text shows a mask cannot match, and is not held against it."""

    @property
    def parts(self) -> tuple[SessionSource, ...]:
        """Every session of the timeline, this one first."""
        return (replace(self, merged=()), *self.merged)

    @property
    def session_ids(self) -> list[str]:
        return [part.session_id for part in self.parts]

    def size(self) -> int:
        """Bytes of recording read (journal segments and raw terminal streams, or bundle files):
        the throughput unit."""
        if self.merged:
            return sum(part.size() for part in self.parts)
        path = Path(self.path)
        if self.kind == "journal":
            casts = path / "terminals"
            streams = sum(p.stat().st_size for p in casts.glob("*.cast")) if casts.is_dir() else 0
            return streams + sum(p.stat().st_size for p in journal.segments(path))
        if path.is_file():
            return path.stat().st_size
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())

    def open(self, strict: bool = False) -> tuple[Iterator[dict[str, Any]], SnapshotLoader | None]:
        """The session's wire events in order and a loader for its snapshots. A journal line that
        cannot be read is skipped (``play`` shows the rest) or, ``strict``, refuses the session:
        training data is built from whole sessions only, as a lost line leaves a hole no replay
        can cross."""
        if self.merged:
            # Each part's own journal, with the workspace events of sessions outside the timeline:
            # those of the timeline's sessions come in once, from their own part.
            inside = frozenset(self.session_ids)
            parts: list[tuple[str, Iterable[dict[str, Any]]]] = [
                (part.session_id, part._journal(strict, inside)) for part in self.parts
            ]
            return merge(parts), self.open_loader()
        if self.kind == "journal":
            return self._journal(strict), self.open_loader()
        for bundle in read_bundles(Path(self.path)):
            if bundle.session_id == self.session_id:
                return events_up(bundle), bundle.snapshots.get
        raise CrowdcodeError(f"{self.path}: session {self.session_id} not found")

    def _journal(self, strict: bool, inside: frozenset[str] = frozenset()) -> Iterator[dict[str, Any]]:
        """A journal's events with the workspace events other sessions recorded meanwhile, but for
        those of the sessions ``inside`` the timeline being read."""
        damaged = _refuse_damaged if strict else None
        events = journal.decoded(journal.read_lines(Path(self.path)), damaged)
        return with_workspace_events(Path(self.path), events, leave_out=inside)

    def open_loader(self) -> SnapshotLoader | None:
        """The loader of a journal's snapshots (the timeline's sessions share a data directory)."""
        return store_loader(Path(self.data_dir)) if self.data_dir else None

    def verifier(self, loader: SnapshotLoader | None) -> Verifier:
        """``crowdcode verify`` for this source, to be fed its events (bundles: against their own
        snapshots, ``loader``)."""
        masked = all(part.masked_after_verifying for part in self.parts)
        if self.kind == "journal":
            snapshots = Snapshots(Path(self.data_dir) if self.data_dir else None)
            return Verifier(self.session_id, snapshots, masked_after_verifying=masked)
        return Verifier(self.session_id, TextSnapshots(loader or (lambda _: None)))

    def casts(self) -> CastReader | None:
        """The session's raw terminal streams (journals only)."""
        return CastReader(*(Path(part.path) for part in self.parts)) if self.kind == "journal" else None


def resolve(refs: list[str], store: Store | None = None) -> list[SessionSource]:
    """Sessions named by id/prefix/``latest``, session directories, directories holding session
    directories (a data dir, its ``sessions/``, a corpus), and crowd-code 2.0 bundles."""
    found: dict[str, SessionSource] = {}
    for ref in refs:
        path = Path(ref)
        if path.exists():
            for source in _from_path(path):
                found.setdefault(source.session_id, source)
            continue
        store = store or Store()
        info = store.find(ref)
        found.setdefault(info.id, _journal(info.directory))
    return sorted(found.values(), key=lambda s: s.session_id)


def _journal(directory: Path) -> SessionSource:
    data_dir = directory.parent.parent
    return SessionSource("journal", str(directory), directory.name, str(data_dir))


def _from_path(path: Path) -> list[SessionSource]:
    if (path / SESSION_FILE).is_file():
        return [_journal(path)]
    if is_bundle(path):
        return [SessionSource("crowd-code", str(path), b.session_id) for b in read_bundles(path)]
    if not path.is_dir():
        raise CrowdcodeError(f"{path}: not a session directory or crowd-code 2.0 bundle")
    sources: list[SessionSource] = []
    root = path / "sessions" if (path / "sessions").is_dir() else path
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if entry.is_dir() or (entry.name.endswith(".tar.gz") and is_bundle(Path(entry.path))):
            sources.extend(_from_path(Path(entry.path)))
    return sources


def _refuse_damaged(line: bytes) -> None:
    raise CrowdcodeError(f"damaged journal line: {line[:60]!r}")
