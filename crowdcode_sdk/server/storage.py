"""Where the ingest server keeps bundles: a local directory, or any fsspec URL (``s3://…``).

Keys are built only from validated hex (install id, SHA-256), never from anything a client
names, so no request can reach outside ``bundles/``. A bundle is written before its receipt; the
receipt is the commit point that the acknowledgement reads, so a crash between the two only
makes the client send the same bytes again, which overwrite the same key.

Several server instances may share one store and nothing else. Writes are whole-object: an S3
PUT is atomic, and on a local directory every file is written beside its key and renamed into
place, so a concurrent reader (another instance answering an acknowledgement) sees a complete
receipt or none. Local files are 0600 and directories 0700; on S3 the bucket's policy applies.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import fsspec
import orjson

from ..locations import open_private, private_dir, write_private_atomic


class BundleStore:
    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        self.url = url
        self.storage_options = storage_options or {}
        self.fs, self.root = fsspec.core.url_to_fs(url, **self.storage_options)
        self.root = self.root.rstrip("/")
        self.local = "file" in _protocols(self.fs)
        if self.local:
            private_dir(Path(self.root))
        else:
            self.fs.makedirs(self.root, exist_ok=True)

    def _key(self, *parts: str) -> str:
        return "/".join((self.root, *parts))

    def bundle_key(self, install_id: str, sha256: str) -> str:
        return self._key("bundles", install_id, f"{sha256}.tar.zst")

    def secret(self) -> bytes:
        """The server's signing secret, created by the first instance to start and kept with the
        data, so every instance on this store signs and checks alike."""
        key = self._key("_server", "secret")
        if self.local:
            path = Path(key)
            private_dir(path.parent)
            if not path.exists():
                candidate = path.with_name(f".secret.{secrets.token_hex(8)}")
                fd = open_private(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
                with os.fdopen(fd, "wb") as f:
                    f.write(secrets.token_hex(32).encode())
                with contextlib.suppress(FileExistsError):  # two instances starting at once: one wins
                    os.link(candidate, path)
                candidate.unlink()
            return path.read_bytes()
        if not self.fs.exists(key):
            self.fs.pipe(key, secrets.token_hex(32).encode())
        return bytes(self.fs.cat(key))

    def receipt(self, install_id: str, sha256: str) -> dict[str, Any] | None:
        key = self._key("bundles", install_id, f"{sha256}.json")
        try:
            value = orjson.loads(Path(key).read_bytes() if self.local else self.fs.cat(key))
        except (FileNotFoundError, ValueError):
            return None
        return value if isinstance(value, dict) else None

    @contextlib.contextmanager
    def spool(self) -> Iterator[IO[bytes]]:
        """A private temporary file for a body on its way in: beside the bundles on a local store
        (so storing it is a rename), in the system's temporary directory otherwise."""
        directory = None
        if self.local:
            directory = self._key("_incoming")
            private_dir(Path(directory))
        with tempfile.NamedTemporaryFile(dir=directory, prefix="upload-", delete=True) as f:
            yield f

    def put(
        self, install_id: str, sha256: str, spooled: IO[bytes], manifest: dict[str, Any], events: int
    ) -> dict[str, Any]:
        """Store a validated bundle from its spool file, then its receipt (the commit point)."""
        spooled.flush()
        key = self.bundle_key(install_id, sha256)
        if self.local:
            private_dir(Path(key).parent)
            os.fsync(spooled.fileno())
            tmp = f"{key}.{secrets.token_hex(8)}.tmp"
            os.link(spooled.name, tmp)  # the spool file is 0600 already, and deleted on close
            os.replace(tmp, key)
        else:
            self.fs.put_file(spooled.name, key)
        return self.commit(install_id, sha256, os.fstat(spooled.fileno()).st_size, manifest, events)

    def commit(self, install_id: str, sha256: str, size: int, manifest: dict[str, Any], events: int) -> dict[str, Any]:
        """Write the receipt that acknowledges a stored bundle."""
        receipt = {
            "sha256": sha256,
            "size": size,
            "installId": install_id,
            "storedAt": time.time_ns() // 1_000_000,
            "events": events,
            "sessions": sorted(manifest.get("sessions", {})),
        }
        key = self._key("bundles", install_id, f"{sha256}.json")
        if self.local:
            write_private_atomic(Path(key), orjson.dumps(receipt))
        else:
            self.fs.pipe(key, orjson.dumps(receipt))
        return receipt

    def open(self, key: str) -> IO[bytes]:
        return self.fs.open(key, "rb", block_size=1 << 20)

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(key))

    def remove(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(key)

    def bundles(self) -> list[str]:
        """Keys of every stored bundle (for maintainers and tests)."""
        return sorted(k for k in self.fs.find(self._key("bundles")) if k.endswith(".tar.zst"))

    def read(self, key: str) -> bytes:
        return bytes(self.fs.cat(key))


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = getattr(fs, "protocol", ())
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)
