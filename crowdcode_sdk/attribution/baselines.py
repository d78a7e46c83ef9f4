"""The last known disk content of every workspace file.

Contents live in the snapshot blob store (so that a snapshot costs only its manifest), the table
of path → content id in memory: nothing is ever evicted, so a baseline is never "unknown" because
a cache filled or rotated (crowd-code's LRU of 5,000 files turned user saves into agent diffs).
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from pathlib import Path

from ..ignore import FileContent, Skip
from .blobs import BlobStore, content_id


@dataclass(frozen=True, slots=True)
class Baseline:
    exists: bool
    sha: str | None = None
    """Content id of a readable text file; ``None`` when skipped (binary, too large …)."""
    skip: Skip | None = None
    size: int = 0

    def same_as(self, other: Baseline) -> bool:
        if self.exists != other.exists:
            return False
        if self.sha is not None or other.sha is not None:
            return self.sha == other.sha
        return self.skip == other.skip and self.size == other.size


ABSENT = Baseline(exists=False)


class Baselines:
    """Thread-compatible: the engine serialises access under its lock (but see :meth:`shas`)."""

    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs
        self._files: dict[Path, Baseline] = {}
        self.changed: builtins.set[Path] | None = None
        """When not ``None``, collects the paths :meth:`set` since the owner last took them."""
        self._unstored: dict[str, bytes] = {}
        """Contents taken with ``defer``: written by :meth:`flush`, after the events are recorded."""

    def __len__(self) -> int:
        return len(self._files)

    def get(self, path: Path) -> Baseline | None:
        """``None`` when the file was never seen (not in the initial scan, never opened)."""
        return self._files.get(path)

    def of(self, content: FileContent, *, defer: bool = False) -> Baseline:
        """The baseline for freshly read content; its text is stored in the blob store now, or
        with ``defer`` at the next :meth:`flush` (off the path from disk write to event)."""
        if not content.exists:
            return ABSENT
        if content.text is None or content.data is None:
            return Baseline(exists=True, skip=content.skip, size=content.size)
        if defer:
            sha = content_id(content.data)
            self._unstored[sha] = content.data
        else:
            sha = self.blobs.put(content.data)
        return Baseline(exists=True, sha=sha, size=content.size)

    def flush(self) -> None:
        """Store the deferred contents."""
        while self._unstored:
            sha, data = self._unstored.popitem()
            self.blobs.put(data, sha)

    def of_text(self, text: str) -> Baseline:
        data = text.encode("utf-8")
        return Baseline(exists=True, sha=self.blobs.put(data), size=len(data))

    def set(self, path: Path, baseline: Baseline) -> None:
        if self.changed is not None:
            self.changed.add(path)
        if baseline.exists:
            self._files[path] = baseline
        else:
            self._files.pop(path, None)

    def text(self, baseline: Baseline | None) -> str | None:
        """The text of a baseline: ``""`` for an absent file, ``None`` when not known."""
        if baseline is None:
            return None
        if not baseline.exists:
            return ""
        if baseline.sha is None:
            return None
        data = self._unstored.get(baseline.sha) or self.blobs.get(baseline.sha)
        return data.decode("utf-8") if data is not None else None

    def under(self, directory: Path) -> list[Path]:
        return [p for p in self._files if p.is_relative_to(directory)]

    def items(self) -> list[tuple[Path, Baseline]]:
        return list(self._files.items())

    def shas(self) -> builtins.set[str]:  # plain set: the method set() shadows it here
        """Safe beside a writer on another thread (a panic hook runs without the engine lock):
        the values are copied in one step under the interpreter lock before they are read."""
        return {b.sha for b in list(self._files.values()) if b.sha is not None}
