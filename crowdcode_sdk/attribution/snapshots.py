"""Workspace snapshots: manifests of workspace-relative paths → content ids in a shared blob store.

``<data_dir>/snapshots/blobs/<sha[:2]>/<sha>`` holds zstd-compressed contents (shared by all
snapshots and sessions), ``<data_dir>/snapshots/manifests/<snapshot_id>.json`` one snapshot:
``{"files": {relpath: sha}, "skipped": {relpath: reason}, "sessionId", "timestamp"}`` — after the
first snapshot of a session, with ``"parent"`` and ``"removed"``, only what changed (see
:class:`Manifest`). A ``workspace_snapshot`` event names the manifest. Because the watcher's baselines live in the same
blob store, a snapshot writes only its manifest.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ..locations import write_private_atomic
from .blobs import BlobStore


@dataclass
class Manifest:
    """``files`` maps every path to its content id — or, with ``parent``, only the paths that
    differ from that earlier snapshot of the same session (``removed``: paths gone since), so that
    a snapshot of an unchanged workspace costs a few bytes. :meth:`SnapshotStore.load` resolves
    the chain."""

    files: dict[str, str]
    skipped: dict[str, str] = field(default_factory=dict)
    session_id: str | None = None
    timestamp: int | None = None
    parent: str | None = None
    removed: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "files": self.files,
            "skipped": self.skipped,
            "sessionId": self.session_id,
            "timestamp": self.timestamp,
        }
        if self.parent is not None:
            data.update(parent=self.parent, removed=self.removed)
        return data

    def delta(self, previous: dict[str, str], parent: str) -> Manifest:
        """This (complete) manifest as a change from ``previous``, the files of ``parent``."""
        return Manifest(
            files={rel: sha for rel, sha in self.files.items() if previous.get(rel) != sha},
            skipped=self.skipped,
            session_id=self.session_id,
            timestamp=self.timestamp,
            parent=parent,
            removed=sorted(rel for rel in previous if rel not in self.files),
        )


class SnapshotStore:
    """The snapshots of one data directory (``Locations.data_dir``)."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "snapshots"
        self.blobs = BlobStore(self.root / "blobs")
        self.manifests = self.root / "manifests"
        self._lock = threading.Lock()

    def manifest_path(self, snapshot_id: str) -> Path:
        return self.manifests / f"{snapshot_id}.json"

    def write(self, snapshot_id: str, manifest: Manifest) -> None:
        write_private_atomic(self.manifest_path(snapshot_id), orjson.dumps(manifest.to_json()))

    def load(self, snapshot_id: str) -> Manifest | None:
        """The snapshot with every file listed (its parent chain resolved); ``None`` if it or an
        ancestor is missing."""
        top = self.load_raw(snapshot_id)
        files = manifest_files(self.manifests, snapshot_id)
        if top is None or files is None:
            return None
        return Manifest(files, top.skipped, top.session_id, top.timestamp)

    def load_raw(self, snapshot_id: str) -> Manifest | None:
        """The manifest as stored (a delta if it has a parent)."""
        try:
            data = orjson.loads(self.manifest_path(snapshot_id).read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return None
        return Manifest(
            data.get("files", {}),
            data.get("skipped", {}),
            data.get("sessionId"),
            data.get("timestamp"),
            data.get("parent"),
            data.get("removed", []),
        )

    def delete(self, snapshot_ids: Iterable[str], *, since_ms: int, keep: Iterable[str] = ()) -> None:
        """Delete these manifests, then every blob written since ``since_ms`` that no remaining
        manifest references and ``keep`` does not hold (the content of a panic's window)."""
        with self._lock:
            for snapshot_id in snapshot_ids:
                with contextlib.suppress(FileNotFoundError):
                    self.manifest_path(snapshot_id).unlink()
            recent = self._blobs_since(since_ms)
            if not recent:
                return
            referenced = set(keep)
            for path in self._manifest_files():
                with contextlib.suppress(OSError, orjson.JSONDecodeError):
                    referenced.update(orjson.loads(path.read_bytes()).get("files", {}).values())
            for sha in recent - referenced:
                self.blobs.remove(sha)

    def _manifest_files(self) -> list[Path]:
        try:
            return [self.manifests / name for name in os.listdir(self.manifests) if name.endswith(".json")]
        except FileNotFoundError:
            return []

    def _blobs_since(self, since_ms: int) -> set[str]:
        found: set[str] = set()
        try:
            prefixes = os.listdir(self.blobs.root)
        except FileNotFoundError:
            return found
        for prefix in prefixes:
            with contextlib.suppress(OSError):
                for entry in os.scandir(self.blobs.root / prefix):
                    if not entry.name.startswith(".") and entry.stat().st_mtime * 1000 >= since_ms:
                        found.add(entry.name)
        return found

    def size(self, manifest: Mapping[str, str]) -> int:
        """Compressed bytes of the blobs a manifest references."""
        return sum(self.blobs.size(sha) for sha in set(manifest.values()))


def manifest_files(manifests: Path, snapshot_id: str) -> dict[str, str] | None:
    """Every ``relpath → sha`` of a snapshot, following delta manifests' ``parent`` chain; the one
    function every reader of snapshots uses. ``None`` if the manifest or an ancestor is missing."""
    chain: list[dict[str, Any]] = []
    current: str | None = snapshot_id
    while current is not None:
        try:
            data = orjson.loads((manifests / f"{current}.json").read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return None
        chain.append(data)
        current = data.get("parent")
    files: dict[str, str] = {}
    for data in reversed(chain):
        for rel in data.get("removed") or ():
            files.pop(rel, None)
        files.update(data.get("files") or {})
    return files
