"""Rebuild a session's workspace as it was at any event: its first snapshot, then the recorded
saves and file changes after it.

Editor buffers are replayed too — ``file_open`` starts a buffer from the disk text, ``edit``
events (reloads included) change it, and a ``file_save`` writes the buffer as it was after its
``lastEditSequence`` — so the disk state is exact even when the person typed on while a save was
being confirmed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..errors import CrowdcodeError
from ..positions import EMPTY_SHA256, apply_change
from ..schema import Edit, Event, FileChange, FileClose, FileOpen, FileSave, TextChange, WorkspaceSnapshot
from ..store import SessionInfo, Store
from .diffs import PatchError, apply_diff
from .snapshots import SnapshotStore


@dataclass
class _Buffer:
    base: str | None
    """The buffer's text before ``edits``; None when the recording never had it (a file the
    engine did not read, too large or binary, opened without its text): its edits cannot be
    placed, and what it saves is not rebuilt."""
    edits: list[tuple[int, TextChange]] = field(default_factory=list)

    def saved(self, through: int | None) -> str | None:
        text = self.base
        rest = []
        for sequence, change in self.edits:
            if through is not None and sequence <= through:
                text = None if text is None else apply_change(text, change)
            else:
                rest.append((sequence, change))
        self.base, self.edits = text, rest
        return text


@dataclass
class ReplayResult:
    snapshot_id: str
    sequence: int
    files: int
    skipped: list[str] = field(default_factory=list)
    """Files whose content could not be rebuilt (binary, too large, a change without a diff)."""


def workspace_at(store: Store, info: SessionInfo, at: int | None = None) -> tuple[dict[str, str], ReplayResult]:
    """The workspace's text files (relative path → text) after event ``at`` (default: the last)."""
    events = list(store.events(info))
    if not events:
        raise CrowdcodeError(f"session {info.id} has no events")
    last = events[-1].sequence
    at = last if at is None else at
    if at < 1 or at > last:
        raise CrowdcodeError(f"--at must be between 1 and {last}, got {at}")
    starts = [e for e in events if isinstance(e.payload, WorkspaceSnapshot) and e.sequence <= at]
    if not starts:
        raise CrowdcodeError(f"session {info.id} has no workspace snapshot at or before event {at}")
    snapshots = SnapshotStore(store.locations.data_dir)
    # Every event counts, those before the first snapshot too: the engine scans the workspace in
    # the background, so an editor's first file is often opened (with its text) and edited before
    # the snapshot that lists the workspace exists. That snapshot then gives the disk; a later one
    # fills in what the replay could not know.
    start = starts[0]
    files: dict[str, str] = {}
    skipped: list[str] = []
    buffers: dict[str, _Buffer] = {}
    for event in events:
        if event.sequence > at:
            break
        if event is start:
            loaded, skipped = _load(snapshots, start)
            files.update(loaded)
            continue
        if isinstance(event.payload, WorkspaceSnapshot) and skipped:
            later, _ = _load(snapshots, event)
            for rel in [r for r in skipped if r in later]:
                files[rel] = later[rel]
                skipped.remove(rel)
            continue
        _apply(event, files, buffers, skipped)
    assert isinstance(start.payload, WorkspaceSnapshot)
    return files, ReplayResult(start.payload.snapshot_id, at, len(files), sorted(set(skipped)))


def materialise(store: Store, info: SessionInfo, into: Path, at: int | None = None) -> ReplayResult:
    """Write the workspace after event ``at`` into the directory ``into`` (new or empty)."""
    if into.exists() and (not into.is_dir() or any(into.iterdir())):
        raise CrowdcodeError(f"{into} exists and is not an empty directory")
    files, result = workspace_at(store, info, at)
    into.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        target = into / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text.encode("utf-8"))
    return result


def _load(snapshots: SnapshotStore, event: Event) -> tuple[dict[str, str], list[str]]:
    assert isinstance(event.payload, WorkspaceSnapshot)
    manifest = snapshots.load(event.payload.snapshot_id)
    if manifest is None:
        raise CrowdcodeError(f"snapshot {event.payload.snapshot_id} is missing (removed by a panic?)")
    files: dict[str, str] = {}
    skipped = list(manifest.skipped)
    for rel, sha in manifest.files.items():
        data = snapshots.blobs.get(sha)
        if data is None or not _safe(rel):
            skipped.append(rel)
            continue
        files[rel] = data.decode("utf-8")
    return files, skipped


def _apply(event: Event, files: dict[str, str], buffers: dict[str, _Buffer], skipped: list[str]) -> None:
    action = event.payload
    if isinstance(action, FileOpen):
        # The open's text, when it has one, is the buffer's start (a file opened before the first
        # snapshot, or not on disk); it says nothing about the disk of a file never saved.
        buffers[action.file] = _Buffer(_disk_text(action.file, files, skipped) if action.text is None else action.text)
    elif isinstance(action, Edit):
        buffer = buffers.setdefault(action.file, _Buffer(_disk_text(action.file, files, skipped)))
        buffer.edits.append((event.sequence, action.diff))
    elif isinstance(action, FileSave):
        buffer = buffers.setdefault(action.file, _Buffer(_disk_text(action.file, files, skipped)))
        saved = buffer.saved(action.last_edit_sequence)
        if not _safe(action.file):
            return
        if saved is None:
            files.pop(action.file, None)
            skipped.append(action.file)
        else:
            files[action.file] = saved
            while action.file in skipped:  # the save tells its text again
                skipped.remove(action.file)
    elif isinstance(action, FileChange):
        _apply_change(action, files, skipped)
    elif isinstance(action, FileClose):
        buffers.pop(action.file, None)


def _disk_text(rel: str, files: dict[str, str], skipped: list[str]) -> str | None:
    """The file's text on disk as replayed so far: None for one the recording could not read
    (listed as skipped), empty for one not on disk (a new file)."""
    if rel in files:
        return files[rel]
    return None if rel in skipped else ""


def _apply_change(action: FileChange, files: dict[str, str], skipped: list[str]) -> None:
    if not _safe(action.file):
        return
    if action.change_type == "delete":
        files.pop(action.file, None)
        return
    if action.diff is None and action.content is not None and action.content.sha256 == EMPTY_SHA256:
        files[action.file] = ""  # an empty file: there is no diff to give
        return
    if action.diff is None:
        skipped.append(action.file)
        files.pop(action.file, None)
        return
    before = "" if action.change_type == "create" else files.get(action.file)
    if before is None:
        skipped.append(action.file)
        return
    try:
        files[action.file] = apply_diff(before, action.diff)
    except PatchError:
        skipped.append(action.file)


def _safe(rel: str) -> bool:
    """Only workspace-relative paths are rebuilt (never ``~/…``, absolute or ``..`` paths)."""
    path = PurePosixPath(rel)
    return not path.is_absolute() and not rel.startswith("~") and ".." not in path.parts
