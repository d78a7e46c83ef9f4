"""The one seam between the shim and attribution (cross-issue contract 1).

Every document event the shim sees goes through a tracker with the API of
``crowdcode_sdk.attribution.Attribution``: ``open_document``, ``edit``, ``reload_document``,
``save_document``, ``close_document``, ``close``. Attribution correlates saves with the user's
buffered edits and watches the disk itself. Until it is part of the core, :class:`DirectTracker`
records the same actions straight into the session, and disk changes that the client reports
(``workspace/didChangeWatchedFiles``) through :meth:`DirectTracker.disk_changed`.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from crowdcode_sdk.schema import (
    ChangeType,
    Edit,
    EditReason,
    Event,
    Evidence,
    FileChange,
    FileClose,
    FileOpen,
    FileSave,
    Source,
    TextChange,
)
from crowdcode_sdk.session import Session


class Tracker(Protocol):
    def open_document(self, path: Path, text: str) -> None: ...

    def edit(
        self,
        path: Path,
        change: TextChange,
        *,
        source: Source = Source.USER,
        reason: EditReason | None = None,
        evidence: Evidence | None = None,
    ) -> Event: ...

    def reload_document(self, path: Path, text: str) -> None: ...

    def save_document(self, path: Path) -> None: ...

    def close_document(self, path: Path) -> None: ...

    def close(self) -> None: ...


def start_tracker(session: Session, roots: Sequence[Path]) -> Tracker:
    """Attribution when the core has it, else the direct recorder."""
    try:
        from crowdcode_sdk.attribution import Attribution  # type: ignore[import-not-found]
    except ImportError:
        return DirectTracker(session)
    return Attribution(session, roots=list(roots))


def watches_disk(tracker: Tracker) -> bool:
    """Whether the tracker sees disk changes by itself (then the client need not report them)."""
    return not isinstance(tracker, DirectTracker)


class DirectTracker:
    """Records document actions as they come, with no save-time correlation."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def open_document(self, path: Path, text: str) -> None:
        self._session.record(FileOpen(file=self._session.relpath(path)))

    def edit(
        self,
        path: Path,
        change: TextChange,
        *,
        source: Source = Source.USER,
        reason: EditReason | None = None,
        evidence: Evidence | None = None,
    ) -> Event:
        return self._session.record(
            Edit(file=self._session.relpath(path), diff=change, reason=reason, source=source, evidence=evidence)
        )

    def reload_document(self, path: Path, text: str) -> None:
        """Nothing to record: the reload is not an edit, and the disk change it follows is
        reported by the client as a watched-file change."""

    def save_document(self, path: Path) -> None:
        self._session.record(FileSave(file=self._session.relpath(path)))

    def close_document(self, path: Path) -> None:
        self._session.record(FileClose(file=self._session.relpath(path)))

    def disk_changed(self, path: Path, change_type: ChangeType, buffer: str | None) -> None:
        """A file changed on disk. With the editor's text of an open file (``buffer``) a change that
        the editor's own save explains is dropped and any other is recorded with its diff."""
        disk: str | None = None
        if change_type is not ChangeType.DELETE:
            try:
                disk = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                disk = None
        if buffer is not None and disk == buffer:
            return
        diff = None
        if buffer is not None and disk is not None:
            diff = "".join(
                difflib.unified_diff(
                    buffer.splitlines(keepends=True), disk.splitlines(keepends=True), path.name, path.name
                )
            )
        self._session.record(FileChange(file=self._session.relpath(path), change_type=change_type, diff=diff or None))

    def close(self) -> None:
        """Nothing buffered."""
