"""A content-addressed store of zstd-compressed file contents.

Workspace snapshots and the watcher's baselines both keep file contents here, keyed by the
SHA-256 of the raw bytes, so that one content is stored once however many snapshots hold it: a
second snapshot of an unchanged repository writes only its manifest.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import threading
from pathlib import Path

import zstandard

from ..locations import open_private, private_dir

COMPRESSION_LEVEL = 3


def content_id(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_content_id(path: Path) -> str | None:
    """The content id of a file too large to read whole (``None``: gone or unreadable)."""
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError:
        return None


class BlobStore:
    """``<root>/<sha[:2]>/<sha>``; writes are atomic (a reader sees a whole blob or none)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._local = threading.local()
        self._made: set[str] = set()

    def path(self, sha: str) -> Path:
        return self.root / sha[:2] / sha

    def has(self, sha: str) -> bool:
        return self.path(sha).exists()

    def put(self, data: bytes, sha: str | None = None) -> str:
        """Store ``data`` unless already stored; returns its id."""
        sha = sha or content_id(data)
        path = self.path(sha)
        if path.exists():
            return sha
        if sha[:2] not in self._made:
            private_dir(path.parent)
            self._made.add(sha[:2])
        tmp = path.with_name(f".{sha}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        try:
            os.write(fd, self._compressor().compress(data))
        finally:
            os.close(fd)
        os.replace(tmp, path)
        return sha

    def get(self, sha: str) -> bytes | None:
        """The content with id ``sha``, or ``None`` if it is not (or no longer) stored."""
        try:
            compressed = self.path(sha).read_bytes()
        except OSError:
            return None
        return self._decompressor().decompress(compressed)

    def size(self, sha: str) -> int:
        try:
            return self.path(sha).stat().st_size
        except OSError:
            return 0

    def remove(self, sha: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(sha).unlink()

    # zstandard's (de)compressor objects must not be shared between threads.
    def _compressor(self) -> zstandard.ZstdCompressor:
        if not hasattr(self._local, "c"):
            self._local.c = zstandard.ZstdCompressor(level=COMPRESSION_LEVEL)
        return self._local.c

    def _decompressor(self) -> zstandard.ZstdDecompressor:
        if not hasattr(self._local, "d"):
            self._local.d = zstandard.ZstdDecompressor()
        return self._local.d
