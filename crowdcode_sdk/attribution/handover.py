"""What the workspace's owner last knew of each file, kept on disk for the session that takes over.

The owner of a workspace (see :mod:`.ownership`) writes, after its initial scan, the content id of
every file, then one line per file whose change it has recorded (after the journal holding that
change is written). When it exits or is killed, the next owner scans the disk and compares: a file
that differs from what the old owner last recorded changed during the hand-over (or in the old
owner's queue when it died) and is recorded as a change by the new owner — once, since the old
owner noted only what reached its journal.

One line is one JSON object ``{"f": path relative to the root, "s": content id or null, "q": the
owner's last journaled sequence}``; a file that is not text (binary, too large) has ``"k"``, its
size, instead of a content id; ``"s": null`` without ``"k"`` is a deleted file. A ``file_change``
of the old owner's journal after ``"q"`` (the journal flushes on its own timer and may be ahead of
the notes) overrides the line; one before it does not (an editor's save, recorded in the
editor's timeline, may have changed the file since).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

import orjson

from ..journal import read_lines
from ..locations import open_private, write_private_atomic


@dataclass(frozen=True)
class Known:
    """A file as the old owner last recorded it: ``sha`` of a text file, else ``size``."""

    sha: str | None
    size: int | None = None


class KnownState:
    """The hand-over file of one workspace. Used only by the owner's worker thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def load(self, root: Path) -> dict[str, Known | None]:
        """The old owner's last knowledge (``None``: it recorded the file as deleted)."""
        known: dict[str, Known | None] = {}
        noted: dict[str, int] = {}
        owner: dict[str, str] = {}
        with contextlib.suppress(OSError):
            for line in self.path.read_bytes().splitlines():
                try:
                    item = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue  # the old owner died inside a write: its last line is incomplete
                if "owner" in item:
                    owner = item
                    continue
                noted[item["f"]] = item.get("q", 0)
                if item.get("s") is None and item.get("k") is None:
                    known[item["f"]] = None
                else:
                    known[item["f"]] = Known(item.get("s"), item.get("k"))
        if owner.get("owner") and owner.get("workspace"):
            for rel, (sequence, last) in _journaled(Path(owner["owner"]), Path(owner["workspace"]), root).items():
                if sequence > noted.get(rel, 0):
                    known[rel] = last
        return known

    def rewrite(self, files: dict[str, Known], owner: Path, workspace: Path, sequence: int) -> None:
        """Start a new state: the whole workspace as the new owner (whose session is recorded in
        ``owner``, with paths relative to ``workspace``, up to ``sequence``) sees it."""
        self.close()
        head = orjson.dumps({"owner": str(owner), "workspace": str(workspace)}) + b"\n"
        write_private_atomic(self.path, head + b"".join(_line(rel, known, sequence) for rel, known in files.items()))
        self._fd = open_private(self.path, os.O_WRONLY | os.O_APPEND)

    def note(self, changes: dict[str, Known | None], sequence: int) -> None:
        """Files whose change the owner's journal now holds, up to ``sequence``."""
        if self._fd is not None and changes:
            os.write(self._fd, b"".join(_line(rel, known, sequence) for rel, known in changes.items()))

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _journaled(directory: Path, workspace: Path, root: Path) -> dict[str, tuple[int, Known | None]]:
    """The last content (with its sequence) the old owner's journal recorded for each file it
    changed."""
    found: dict[str, tuple[int, Known | None]] = {}
    for line in read_lines(directory):
        with contextlib.suppress(orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            event = orjson.loads(line)
            action = event.get("action") or {}
            if action.get("kind") != "file_change":
                continue
            rel = (workspace / action["file"]).relative_to(root).as_posix()
            if action.get("changeType") == "delete":
                found[rel] = (int(event["sequence"]), None)
            elif action.get("content"):
                found[rel] = (int(event["sequence"]), Known(action["content"]["sha256"]))
    return found


def _line(rel: str, known: Known | None, sequence: int) -> bytes:
    item: dict[str, object] = {"f": rel, "s": known.sha if known else None, "q": sequence}
    if known is not None and known.sha is None:
        item["k"] = known.size or 0
    return orjson.dumps(item) + b"\n"


__all__ = ["Known", "KnownState"]
