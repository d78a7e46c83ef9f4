"""Where the ingest server keeps bundles: a local directory, or any fsspec URL (``s3://…``).

Keys are built only from validated hex (install id, SHA-256), never from anything a client
names, so no request can reach outside ``bundles/``. A bundle is written before its receipt; the
receipt is the commit point that the acknowledgement reads, so a crash between the two only
makes the client send the same bytes again, which overwrite the same key.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import fsspec
import orjson


class BundleStore:
    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        self.fs, self.root = fsspec.core.url_to_fs(url, **(storage_options or {}))
        self.root = self.root.rstrip("/")
        self.fs.makedirs(self.root, exist_ok=True)

    def _key(self, *parts: str) -> str:
        return "/".join((self.root, *parts))

    def secret(self) -> bytes:
        """The server's signing secret, created on first start and kept with the data."""
        key = self._key("_server", "secret")
        if not self.fs.exists(key):
            self.fs.makedirs(self._key("_server"), exist_ok=True)
            self.fs.pipe(key, secrets.token_hex(32).encode())
            self._private(key)
        return self.fs.cat(key)

    def receipt(self, install_id: str, sha256: str) -> dict[str, Any] | None:
        try:
            return orjson.loads(self.fs.cat(self._key("bundles", install_id, f"{sha256}.json")))
        except (FileNotFoundError, ValueError):
            return None

    def put(self, install_id: str, sha256: str, data: bytes, manifest: dict[str, Any], events: int) -> dict[str, Any]:
        self.fs.makedirs(self._key("bundles", install_id), exist_ok=True)
        bundle_key = self._key("bundles", install_id, f"{sha256}.tar.zst")
        self.fs.pipe(bundle_key, data)
        receipt = {
            "sha256": sha256,
            "size": len(data),
            "installId": install_id,
            "storedAt": time.time_ns() // 1_000_000,
            "events": events,
            "sessions": sorted(manifest.get("sessions", {})),
        }
        self.fs.pipe(self._key("bundles", install_id, f"{sha256}.json"), orjson.dumps(receipt))
        return receipt

    def bundles(self) -> list[str]:
        """Keys of every stored bundle (for maintainers and tests)."""
        return sorted(k for k in self.fs.find(self._key("bundles")) if k.endswith(".tar.zst"))

    def read(self, key: str) -> bytes:
        return self.fs.cat(key)

    def _private(self, key: str) -> None:
        if getattr(self.fs, "protocol", None) in ("file", ("file", "local")):
            import os

            os.chmod(key, 0o600)
