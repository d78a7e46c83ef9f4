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
only when the acknowledgement names that exact hash. :func:`scan_bundle` is the server's
validation, one streaming pass in bounded memory with limits on compressed size, expansion,
members and zstd window; :func:`read_bundle` is the same over bytes in memory (tests, tools).
"""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import IO, Any, Protocol, cast

import orjson
import zstandard

from ..errors import CrowdcodeError, SchemaError
from ..schema import decode_event
from .zstd_frame import FrameEnd, FrameError

FORMAT = "crowdcode-bundle"
VERSION = 1
MANIFEST = "manifest.json"

MEMBER_KINDS: dict[str, str] = {
    "session": r"sessions/[0-9a-f]{32}/session\.json",
    "segment": r"sessions/[0-9a-f]{32}/events-[0-9]{6}\.jsonl",
    "cast": r"sessions/[0-9a-f]{32}/terminals/[A-Za-z0-9_.\-]{1,100}\.cast",
    "snapshot_manifest": r"snapshots/manifests/[A-Za-z0-9_.\-]{1,100}\.json",
    "blob": r"snapshots/blobs/[0-9a-f]{64}",
}
"""Every kind of member a bundle may hold besides its manifest: a new kind is added here, and
tests/test_bundle_members.py fails until a secret planted in it is shown not to leave. Names are
matched whole (``fullmatch``: ``$`` also matches before a final newline, and a member named
``….jsonl\n`` passed as a journal segment that was then checked as nothing) and in ASCII."""
MEMBER = re.compile("|".join(f"(?P<{kind}>{pattern})" for kind, pattern in MEMBER_KINDS.items()))


def member_kind(name: str) -> str | None:
    match = MEMBER.fullmatch(name)
    return match.lastgroup if match else None


SHA256 = re.compile(r"[0-9a-f]{64}")


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
        if not MEMBER.fullmatch(name):
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


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 64 * 1024 * 1024
    """Largest compressed bundle accepted."""
    max_uncompressed_bytes: int = 512 * 1024 * 1024
    """Largest uncompressed content accepted (a zstd bomb stops here, before it is decompressed:
    the frame must declare its size, and the count stops at the limit)."""
    max_entries: int = 100_000
    """Most archive members (a tar of millions of empty files is a bomb too)."""
    max_document_bytes: int = 32 * 1024 * 1024
    """Largest JSON document or journal line held in memory at once while validating."""
    max_window_bytes: int = 1 << 23
    """Largest zstd window a bundle may ask the decoder to allocate (the client's level 10 uses
    at most 4 MiB); this bounds the decoder's memory per upload."""


@dataclass(frozen=True)
class Bundle:
    manifest: dict[str, Any]
    members: dict[str, bytes]
    """Every member's bytes, when read with ``keep_members``; empty otherwise."""
    events: int
    sha256: str
    size: int


def read_bundle(data: bytes, limits: Limits = Limits(), expected_sha256: str | None = None) -> Bundle:
    """Validate a bundle held in memory and return it with its members; raise :class:`BundleError`."""
    return scan_bundle(io.BytesIO(data), limits, expected_sha256, keep_members=True)


def scan_bundle(
    source: Readable, limits: Limits = Limits(), expected_sha256: str | None = None, *, keep_members: bool = False
) -> Bundle:
    """Validate a bundle read from ``source`` in one pass, in memory bounded by ``limits``.

    The server feeds it a request body as it arrives; each member is hashed and schema-checked
    as it streams out of the decompressor, so nothing is held whole except JSON documents and
    journal lines (``max_document_bytes``). Every byte of ``source`` is read, even after a
    failure, so that a hash mismatch (a transfer problem) is told apart from a malformed bundle.
    """
    compressed = _Compressed(source, limits)
    scan = _Scan(limits, keep_members)
    try:
        try:
            scan.run(compressed)
        except (zstandard.ZstdError, tarfile.TarError, EOFError, FrameError) as exc:
            raise BundleError(_describe(exc)) from None
        compressed.drain(check=True)
    except BundleError:
        if expected_sha256 is not None and not compressed.oversized:
            compressed.drain(check=False)
            if compressed.sha256() != expected_sha256:
                raise BundleError(_mismatch(expected_sha256, compressed.sha256())) from None
        raise
    if expected_sha256 is not None and compressed.sha256() != expected_sha256:
        raise BundleError(_mismatch(expected_sha256, compressed.sha256()))
    return Bundle(scan.manifest, scan.members, scan.events, compressed.sha256(), compressed.size)


def _mismatch(expected: str, received: str) -> str:
    return f"content hash mismatch: announced {expected}, received {received}"


def _describe(exc: Exception) -> str:
    if isinstance(exc, FrameError):
        return str(exc)
    if isinstance(exc, zstandard.ZstdError):
        return f"not a zstd stream: {exc}"
    return f"not a valid tar archive: {exc or type(exc).__name__}"


class _Compressed(io.RawIOBase):
    """The compressed bytes as the decoder pulls them: counted, hashed, and checked to be one frame."""

    def __init__(self, source: Readable, limits: Limits) -> None:
        self.source = source
        self.limits = limits
        self.size = 0
        self.oversized = False
        self.checking = True
        self._hash = hashlib.sha256()
        self._frame = FrameEnd(limits.max_uncompressed_bytes)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self.source.read(len(buffer))
        if not chunk:
            return 0
        self.size += len(chunk)
        if self.size > self.limits.max_bytes:
            self.oversized = True
            raise BundleError(f"bundle is over {self.limits.max_bytes} bytes, the limit")
        self._hash.update(chunk)
        if self.checking:
            try:
                self._frame.feed(chunk)
            except FrameError as exc:
                self.checking = False
                raise BundleError(str(exc)) from None
        buffer[: len(chunk)] = chunk
        return len(chunk)

    def drain(self, *, check: bool) -> None:
        """Read what the decoder left, so the hash covers every byte; with ``check``, nothing may
        follow the frame and the frame must be complete."""
        self.checking = self.checking and check
        buffer = bytearray(CHUNK)
        while self.readinto(buffer):
            pass
        if check and not self._frame.ended:
            raise BundleError("the zstd frame is truncated")

    def sha256(self) -> str:
        return self._hash.hexdigest()


class _Expanded(io.RawIOBase):
    """The decompressed tar stream, counted; the scan moves ``allowed`` on as members are read,
    so tar headers (PAX records, long names) cannot make the tar reader allocate without bound."""

    def __init__(self, raw: IO[bytes], limits: Limits) -> None:
        self.raw = raw
        self.limits = limits
        self.position = 0
        self.allowed = limits.max_document_bytes

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self.raw.read(len(buffer))
        self.position += len(chunk)
        if self.position > self.limits.max_uncompressed_bytes:
            raise BundleError(f"bundle expands beyond {self.limits.max_uncompressed_bytes} bytes")
        if self.position > self.allowed:
            raise BundleError(f"a tar header is over {self.limits.max_document_bytes} bytes")
        buffer[: len(chunk)] = chunk
        return len(chunk)


CHUNK = 64 * 1024

_decoders = threading.local()


def _decoder(max_window_bytes: int) -> zstandard.ZstdDecompressor:
    """This thread's zstd decoder, kept from one bundle to the next.

    A decoding context allocates its window buffers (about 1 MB for the client's level) on first
    use and keeps them; a fresh context per bundle left that megabyte to the C allocator each time,
    where it lingered until the heap was trimmed, so a server validating bundle after bundle grew
    by about 1 MB per bundle between trims (``benchmarks/server_memory.py``). One context per
    thread is reused (never by two threads at once: a context is not thread-safe).
    """
    cached: dict[int, zstandard.ZstdDecompressor] = _decoders.__dict__.setdefault("by_window", {})
    decoder = cached.get(max_window_bytes)
    if decoder is None:
        decoder = cached[max_window_bytes] = zstandard.ZstdDecompressor(max_window_size=max_window_bytes)
    return decoder


class _Scan:
    """The checks, member by member, over the decompressed tar stream."""

    def __init__(self, limits: Limits, keep_members: bool) -> None:
        self.limits = limits
        self.keep_members = keep_members
        self.manifest: dict[str, Any] = {}
        self.members: dict[str, bytes] = {}
        self.events = 0
        self.seen: set[str] = set()
        self.referenced: dict[str, tuple[str, str]] = {}  # blob member -> (snapshot manifest, path)

    def run(self, compressed: _Compressed) -> None:
        decoder = _decoder(self.limits.max_window_bytes)
        with decoder.stream_reader(cast(IO[bytes], compressed), read_size=CHUNK, closefd=False) as raw:
            expanded = _Expanded(raw, self.limits)
            with tarfile.open(fileobj=expanded, mode="r|") as tar:
                for count, info in enumerate(tar, 1):
                    if count > self.limits.max_entries:
                        raise BundleError(f"bundle holds more than {self.limits.max_entries} members")
                    # this member's data, then at most one document's worth of headers for the next
                    expanded.allowed = tar.offset + info.size + tarfile.RECORDSIZE + self.limits.max_document_bytes
                    self._member(tar, info)
            expanded.allowed = self.limits.max_uncompressed_bytes
            while chunk := expanded.read(CHUNK):
                if chunk.strip(b"\0"):
                    raise BundleError("data follows the end of the tar archive")
        if not self.manifest:
            raise BundleError("manifest.json is missing")
        missing = set(self.manifest["files"]) - self.seen
        if missing:
            raise BundleError(
                f"manifest.json: files do not match the archive (missing {sorted(missing)[:3]}, extra [])"
            )
        for blob, (snapshot, path) in self.referenced.items():
            if blob not in self.seen:
                raise BundleError(f"{snapshot}: {path!r} refers to a blob the bundle does not hold")

    def _member(self, tar: tarfile.TarFile, info: tarfile.TarInfo) -> None:
        if not info.isreg():
            raise BundleError(f"{info.name!r}: only regular files are allowed")
        if info.name != MANIFEST and not MEMBER.fullmatch(info.name):
            raise BundleError(f"{info.name!r}: unexpected path in bundle")
        if info.name in self.seen or (info.name == MANIFEST and self.manifest):
            raise BundleError(f"{info.name!r}: appears twice")
        extracted = tar.extractfile(info)
        if extracted is None:  # pragma: no cover - isreg() members always have a file object
            raise BundleError(f"{info.name!r}: unreadable")
        if info.name == MANIFEST:
            self.manifest = self._read_manifest(self._document(info, extracted))
            return
        if not self.manifest:
            raise BundleError("manifest.json must be the archive's first member")
        entry = self.manifest["files"].get(info.name)
        if not isinstance(entry, dict):
            raise BundleError(f"manifest.json: files do not match the archive (missing [], extra {[info.name]})")
        self.seen.add(info.name)
        digest = hashlib.sha256()
        kept: list[bytes] = []
        check = self._checker(info)
        size = 0
        problem: BundleError | None = None  # reported after the hash: a changed member says so first
        while True:
            chunk = extracted.read(CHUNK)
            size += len(chunk)
            digest.update(chunk)
            if problem is None:
                try:
                    check.send(chunk)
                except BundleError as exc:
                    problem = exc
            if not chunk:
                break
            if self.keep_members:
                kept.append(chunk)
        if entry.get("sha256") != digest.hexdigest() or entry.get("size") != size:
            raise BundleError(f"{info.name}: content does not match its hash in manifest.json")
        if problem is not None:
            raise problem
        if self.keep_members:
            self.members[info.name] = b"".join(kept)

    def _document(self, info: tarfile.TarInfo, extracted: IO[bytes]) -> bytes:
        if info.size > self.limits.max_document_bytes:
            raise BundleError(f"{info.name}: {info.size} bytes is over the {self.limits.max_document_bytes}-byte limit")
        return extracted.read()

    def _read_manifest(self, data: bytes) -> dict[str, Any]:
        try:
            manifest = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise BundleError(f"manifest.json: not JSON: {exc}") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
            raise BundleError(f"manifest.json: not a {FORMAT} version {VERSION} manifest")
        if not isinstance(manifest.get("files"), dict):
            raise BundleError("manifest.json: files is not an object")
        return manifest

    def _checker(self, info: tarfile.TarInfo) -> _Finishing:
        """A coroutine fed the member's chunks, then ``b""``; raises on the first problem."""
        if info.name.endswith(".jsonl"):
            checker = self._journal(info.name)
        elif info.name.endswith(".json"):
            checker = self._json_document(info)
        elif info.name.endswith(".cast"):
            checker = self._cast(info.name)
        else:
            checker = self._anything()
        next(checker)
        return _Finishing(checker)

    def _journal(self, name: str) -> Generator[None, bytes, None]:
        previous, number, partial = 0, 0, b""
        while True:
            chunk = yield
            if chunk:
                lines = (partial + chunk).split(b"\n")
                partial = lines.pop()
                if len(partial) > self.limits.max_document_bytes:
                    raise BundleError(f"{name} line {number + 1}: longer than {self.limits.max_document_bytes} bytes")
            else:
                lines, partial = ([partial] if partial else []), b""
            for line in lines:
                number += 1
                try:
                    event = decode_event(line)
                except SchemaError as exc:
                    raise BundleError(f"{name} line {number}: {exc}") from None
                if event.sequence <= previous:
                    raise BundleError(f"{name} line {number}: sequence {event.sequence} does not increase")
                previous = event.sequence
                self.events += 1
            if not chunk:
                return

    def _json_document(self, info: tarfile.TarInfo) -> Generator[None, bytes, None]:
        name = info.name
        if info.size > self.limits.max_document_bytes:
            raise BundleError(f"{name}: {info.size} bytes is over the {self.limits.max_document_bytes}-byte limit")
        parts: list[bytes] = []
        while chunk := (yield):
            parts.append(chunk)
        try:
            value = orjson.loads(b"".join(parts))
        except orjson.JSONDecodeError as exc:
            raise BundleError(f"{name}: not JSON: {exc}") from None
        if name.startswith("snapshots/manifests/"):
            snapshot_files = value.get("files") if isinstance(value, dict) else None
            if not isinstance(snapshot_files, dict):
                raise BundleError(f'{name}: expected {{"files": {{path: sha256}}}}')
            for path, sha in snapshot_files.items():
                if not (isinstance(sha, str) and SHA256.fullmatch(sha)):
                    raise BundleError(f"{name}: {path!r} refers to a blob the bundle does not hold")
                self.referenced.setdefault(f"snapshots/blobs/{sha}", (name, path))

    def _cast(self, name: str) -> Generator[None, bytes, None]:
        head, chunk = b"", b"-"
        while chunk and b"\n" not in head and len(head) <= self.limits.max_document_bytes:
            chunk = yield
            head += chunk
        try:
            header = orjson.loads(head.split(b"\n", 1)[0])
        except orjson.JSONDecodeError:
            header = None
        if not isinstance(header, dict) or header.get("version") != 2:
            raise BundleError(f"{name}: not an asciicast v2 stream")
        while chunk:
            chunk = yield

    @staticmethod
    def _anything() -> Generator[None, bytes, None]:
        while (yield):
            pass


class _Finishing:
    """Sends chunks to a checker; the final ``b""`` lets it finish (StopIteration is the success)."""

    def __init__(self, checker: Generator[None, bytes, None]) -> None:
        self.checker = checker
        self.done = False

    def send(self, chunk: bytes) -> None:
        if self.done:
            return
        try:
            self.checker.send(chunk)
        except StopIteration:
            self.done = True
        if not chunk and not self.done:
            raise BundleError("internal: a member check did not finish")
