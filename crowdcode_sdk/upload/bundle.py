"""The upload bundle: one zstd-compressed tar with a manifest of content hashes.

Layout (every path is fixed by this module, never taken from user data)::

    manifest.json                                   what the bundle holds; see :func:`manifest`
    sessions/<session-id>/session.json              metadata (and end, for a session's last bundle)
    sessions/<session-id>/events-NNNNNN.jsonl       redacted journal segments
    sessions/<session-id>/terminals/<id>.cast       redacted raw terminal streams (last bundle)
    snapshots/manifests/<snapshot-id>.json          workspace snapshot manifests, {"files": {path: sha}}
    snapshots/blobs/<sha256>                        the (redacted) files they reference

The bundle's identity is the SHA-256 of its compressed bytes: the client announces it, the server
checks the bytes against it, stores under it, and acknowledges it; the client deletes local data
only when the acknowledgement names that exact hash. :func:`read_bundle` is the server's
validation (also used by tests), with limits on compressed and uncompressed size.
"""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import zstandard

from ..errors import CrowdcodeError, SchemaError
from ..schema import decode_event

FORMAT = "crowdcode-bundle"
VERSION = 1
MANIFEST = "manifest.json"

MEMBER_KINDS: dict[str, str] = {
    "session": r"sessions/[0-9a-f]{32}/session\.json",
    "segment": r"sessions/[0-9a-f]{32}/events-\d{6}\.jsonl",
    "cast": r"sessions/[0-9a-f]{32}/terminals/[A-Za-z0-9_.\-]{1,100}\.cast",
    "snapshot_manifest": r"snapshots/manifests/[A-Za-z0-9_.\-]{1,100}\.json",
    "blob": r"snapshots/blobs/[0-9a-f]{64}",
}
"""Every kind of member a bundle may hold besides its manifest: a new kind is added here, and
tests/test_bundle_members.py fails until a secret planted in it is shown not to leave."""
MEMBER = re.compile("^(?:" + "|".join(f"(?P<{kind}>{pattern})" for kind, pattern in MEMBER_KINDS.items()) + ")$")


def member_kind(name: str) -> str | None:
    match = MEMBER.match(name)
    return match.lastgroup if match else None


SHA256 = re.compile(r"^[0-9a-f]{64}$")


class BundleError(CrowdcodeError):
    """A bundle is malformed; the message says what is wrong, for the uploader's log."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class BundleWriter:
    """Collects members in memory and writes the compressed bundle."""

    install_id: str
    sdk_version: str
    members: dict[str, bytes] = field(default_factory=dict)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    redactions: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, data: bytes) -> None:
        if not MEMBER.match(name):
            raise ValueError(f"not a bundle member name: {name!r}")
        self.members[name] = data

    @property
    def raw_size(self) -> int:
        return sum(len(d) for d in self.members.values())

    def manifest(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "installId": self.install_id,
            "sdkVersion": self.sdk_version,
            "createdAt": time.time_ns() // 1_000_000,
            "sessions": self.sessions,
            "verified": all(s.get("verified", False) for s in self.sessions.values()),
            "redactions": dict(sorted(self.redactions.items())),
            "files": {n: {"sha256": sha256_hex(d), "size": len(d)} for n, d in sorted(self.members.items())},
        }

    def build(self, level: int = 10) -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name, data in [(MANIFEST, orjson.dumps(self.manifest())), *sorted(self.members.items())]:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mode = 0o600
                tar.addfile(info, io.BytesIO(data))
        return zstandard.ZstdCompressor(level=level).compress(buffer.getvalue())


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 64 * 1024 * 1024
    """Largest compressed bundle accepted."""
    max_uncompressed_bytes: int = 512 * 1024 * 1024
    """Largest uncompressed content accepted (a zstd bomb stops here)."""


@dataclass(frozen=True)
class Bundle:
    manifest: dict[str, Any]
    members: dict[str, bytes]
    events: int


def read_bundle(data: bytes, limits: Limits = Limits(), expected_sha256: str | None = None) -> Bundle:
    """Decompress and validate a bundle completely; raise :class:`BundleError` saying what is wrong."""
    if len(data) > limits.max_bytes:
        raise BundleError(f"bundle is {len(data)} bytes; the limit is {limits.max_bytes}")
    if expected_sha256 is not None and sha256_hex(data) != expected_sha256:
        raise BundleError(f"content hash mismatch: announced {expected_sha256}, received {sha256_hex(data)}")
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data))
        raw = reader.read(limits.max_uncompressed_bytes + 1)
    except zstandard.ZstdError as exc:
        raise BundleError(f"not a zstd stream: {exc}") from None
    if len(raw) > limits.max_uncompressed_bytes:
        raise BundleError(f"bundle expands beyond {limits.max_uncompressed_bytes} bytes")
    members: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
            for info in tar:
                if not info.isreg():
                    raise BundleError(f"{info.name!r}: only regular files are allowed")
                if info.name != MANIFEST and not MEMBER.match(info.name):
                    raise BundleError(f"{info.name!r}: unexpected path in bundle")
                if info.name in members:
                    raise BundleError(f"{info.name!r}: appears twice")
                extracted = tar.extractfile(info)
                members[info.name] = extracted.read() if extracted else b""
    except tarfile.TarError as exc:
        raise BundleError(f"not a valid tar archive: {exc}") from None
    if MANIFEST not in members:
        raise BundleError("manifest.json is missing")
    try:
        manifest = orjson.loads(members.pop(MANIFEST))
    except orjson.JSONDecodeError as exc:
        raise BundleError(f"manifest.json: not JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise BundleError(f"manifest.json: not a {FORMAT} version {VERSION} manifest")
    files = manifest.get("files")
    if not isinstance(files, dict) or set(files) != set(members):
        listed = set(files) if isinstance(files, dict) else set()
        raise BundleError(
            f"manifest.json: files do not match the archive (missing {sorted(set(members) - listed)[:3]}, "
            f"extra {sorted(listed - set(members))[:3]})"
        )
    for name, data_ in members.items():
        entry = files[name]
        if not isinstance(entry, dict) or entry.get("sha256") != sha256_hex(data_) or entry.get("size") != len(data_):
            raise BundleError(f"{name}: content does not match its hash in manifest.json")
    events = sum(_check_member(name, content, members) for name, content in members.items())
    return Bundle(manifest, members, events)


def _check_member(name: str, data: bytes, members: dict[str, bytes]) -> int:
    """Schema checks per member kind; returns the number of events in it."""
    if name.endswith(".jsonl"):
        previous = 0
        count = 0
        for number, line in enumerate(data.splitlines(), 1):
            try:
                event = decode_event(line)
            except SchemaError as exc:
                raise BundleError(f"{name} line {number}: {exc}") from None
            if event.sequence <= previous:
                raise BundleError(f"{name} line {number}: sequence {event.sequence} does not increase")
            previous = event.sequence
            count += 1
        return count
    if name.endswith("session.json") or name.startswith("snapshots/manifests/"):
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise BundleError(f"{name}: not JSON: {exc}") from None
        if name.startswith("snapshots/manifests/"):
            snapshot_files = value.get("files") if isinstance(value, dict) else None
            if not isinstance(snapshot_files, dict):
                raise BundleError(f'{name}: expected {{"files": {{path: sha256}}}}')
            for path, sha in snapshot_files.items():
                if not (isinstance(sha, str) and SHA256.match(sha)) or f"snapshots/blobs/{sha}" not in members:
                    raise BundleError(f"{name}: {path!r} refers to a blob the bundle does not hold")
        return 0
    if name.endswith(".cast"):
        first = data.split(b"\n", 1)[0]
        try:
            header = orjson.loads(first)
        except orjson.JSONDecodeError:
            header = None
        if not isinstance(header, dict) or header.get("version") != 2:
            raise BundleError(f"{name}: not an asciicast v2 stream")
    return 0
