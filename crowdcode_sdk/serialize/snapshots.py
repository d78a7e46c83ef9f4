"""Reading workspace snapshots (written by the attribution engine) for initial file contents.

Layout (docs/schema.md): content-addressed zstd blobs at
``<data_dir>/snapshots/blobs/<sha[:2]>/<sha>`` and manifests at
``<data_dir>/snapshots/manifests/<snapshot_id>.json`` = ``{"files": {relpath: sha}, ...}``,
referenced by ``workspace_snapshot`` events.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import zstandard

from ..attribution.snapshots import manifest_files

SnapshotLoader = Callable[[str], "dict[str, str] | None"]
"""``snapshot_id`` → ``{relpath: text}`` (files that are not UTF-8 text left out), or ``None``."""


def blob_path(data_dir: Path, sha: str) -> Path:
    return data_dir / "snapshots" / "blobs" / sha[:2] / sha


def manifest_path(data_dir: Path, snapshot_id: str) -> Path:
    return data_dir / "snapshots" / "manifests" / f"{snapshot_id}.json"


def read_blob(data_dir: Path, sha: str) -> bytes:
    data = blob_path(data_dir, sha).read_bytes()
    return zstandard.ZstdDecompressor().decompressobj().decompress(data)


def write_blob(data_dir: Path, content: bytes) -> str:
    """Store ``content`` under its SHA-256; used by ``crowdcode import`` for 2.0 snapshots."""
    import hashlib

    sha = hashlib.sha256(content).hexdigest()
    path = blob_path(data_dir, sha)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(zstandard.ZstdCompressor().compress(content))
    return sha


def store_loader(data_dir: Path) -> SnapshotLoader:
    """A loader for the snapshots of one data directory."""

    def load(snapshot_id: str) -> dict[str, str] | None:
        manifest = manifest_files(manifest_path(data_dir, snapshot_id).parent, snapshot_id)
        if manifest is None:
            return None
        files: dict[str, str] = {}
        for relpath, sha in manifest.items():
            try:
                files[relpath] = read_blob(data_dir, sha).decode("utf-8")
            except (OSError, UnicodeDecodeError, zstandard.ZstdError):
                continue
        return files

    return load
