"""Where the Neovim host's file events go.

Files on disk go through the core's attribution engine (``crowdcode_sdk.attribution``), which
correlates the editor's edits with what reaches the disk. Buffers without a file have nothing on
disk to correlate: :class:`DirectFileEvents` records their events straight into the session, with
the engine's signatures and conventions.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from crowdcode_sdk.attribution import Attribution
from crowdcode_sdk.positions import content_facts
from crowdcode_sdk.schema import (
    Edit,
    EditReason,
    Event,
    Evidence,
    FileClose,
    FileOpen,
    FileSave,
    Source,
    TextChange,
)
from crowdcode_sdk.session import Session

from .buffers import minimal_change

Name = Path | str
"""An absolute file path, or the label of a buffer that has no file (``untitled:3``)."""


class FileEvents(Protocol):
    """The attribution engine's editor-facing calls (cross-issue contract 1)."""

    def open_document(self, path: Path, text: str) -> None: ...

    def edit(
        self,
        path: Path,
        change: TextChange,
        *,
        source: Source = Source.USER,
        reason: EditReason | None = None,
        evidence: Evidence | None = None,
    ) -> Event | None: ...

    def reload_document(self, path: Path, text: str) -> None: ...

    def save_document(self, path: Path) -> None: ...

    def close_document(self, path: Path) -> None: ...

    def close(self) -> None: ...


class DirectFileEvents:
    """Records a scratch buffer's events as they happen (there is no disk to look at).

    A reload from disk is recorded as the engine records it: an ``edit`` with reason ``reload``
    and source ``unknown`` (so that a replay rebuilds the buffer), never as a user edit.
    ``text_before`` gives the editor's text of a file as it was before a reload.
    """

    def __init__(self, session: Session, text_before: Callable[[Name], str]) -> None:
        self.session = session
        self._text_before = text_before

    def open_document(self, path: Name, text: str) -> None:
        self.session.record(FileOpen(file=self.session.relpath(path), text=text, content=content_facts(text)))

    def edit(
        self,
        path: Name,
        change: TextChange,
        *,
        source: Source = Source.USER,
        reason: EditReason | None = None,
        evidence: Evidence | None = None,
    ) -> Event:
        return self.session.record(
            Edit(file=self.session.relpath(path), diff=change, reason=reason, source=source, evidence=evidence)
        )

    def reload_document(self, path: Name, text: str) -> None:
        change = minimal_change(self._text_before(path), text)
        if change is not None:
            self.session.record(
                Edit(
                    file=self.session.relpath(path),
                    diff=change,
                    reason=EditReason.RELOAD,
                    source=Source.UNKNOWN,
                    evidence=Evidence(detail="the editor read the file again from disk"),
                )
            )

    def save_document(self, path: Name) -> None:
        self.session.record(FileSave(file=self.session.relpath(path)))

    def close_document(self, path: Name) -> None:
        self.session.record(FileClose(file=self.session.relpath(path)))

    def close(self) -> None:
        pass


def file_events(session: Session, roots: list[Path]) -> FileEvents:
    """The attribution engine, watching ``roots`` (its initial scan runs in the background: the
    editor's first events never wait for it)."""
    return Attribution(session, roots=roots, wait=False)


def scratch_events(session: Session, text_before: Callable[[Name], str]) -> DirectFileEvents:
    """Buffers without a file have nothing on disk to correlate: recorded directly."""
    return DirectFileEvents(session, text_before)


__all__ = ["DirectFileEvents", "FileEvents", "Name", "file_events", "scratch_events"]
