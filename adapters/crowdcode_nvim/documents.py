"""Where the Neovim host's file events go: the core's attribution engine
(``crowdcode_sdk.attribution``), which correlates the editor's edits with what reaches the disk.
Only files are recorded; scratch buffers have no file to correlate, show or rebuild."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from crowdcode_sdk.attribution import Attribution
from crowdcode_sdk.schema import EditReason, Event, Evidence, Source, TextChange
from crowdcode_sdk.session import Session


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


def file_events(session: Session, roots: list[Path]) -> FileEvents:
    """The attribution engine, watching ``roots`` (its initial scan runs in the background: the
    editor's first events never wait for it)."""
    return Attribution(session, roots=roots, wait=False)


__all__ = ["FileEvents", "file_events"]
