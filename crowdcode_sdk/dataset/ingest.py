"""Reading what contributors sent: ingest stores, bundle files, session directories, crowd-code 2.0.

Uploaded bundles (``.tar.zst``, see :mod:`crowdcode_sdk.upload.bundle`) hold journal segments
and snapshot blobs flat and uncompressed; the serializer reads sessions as a data directory
(``sessions/<id>/``, zstd blobs at ``snapshots/blobs/<sha[:2]>/<sha>``). So every bundle is
validated once and unpacked into a staging data directory that the build keeps between runs:
``state.json`` there lists the bundles already unpacked, and a re-run on a grown store reads only
the new ones.

The ingest store is read through its on-disk layout as the server writes it today
(``bundles/<install id>/<sha256>.tar.zst`` with a receipt beside it), through fsspec, so a
local directory and ``s3://bucket/prefix`` read the same way.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import fsspec
import orjson

from ..errors import CrowdcodeError
from ..export.crowd_code import is_bundle
from ..serialize.snapshots import manifest_path, write_blob
from ..serialize.sources import SessionSource, resolve
from ..store import SESSION_FILE
from ..upload.bundle import BundleError, read_bundle, sha256_hex

BUNDLE_SUFFIX = ".tar.zst"


def pseudonym(install_id: str) -> str:
    """A contributor's name in datasets: stable, not the install id itself. A revocation names
    the install id; :func:`pseudonym` finds its examples."""
    return hashlib.sha256(f"crowdcode-contributor:{install_id}".encode()).hexdigest()[:16]


@dataclass
class Quarantined:
    what: str
    """A session id or a bundle key."""
    reason: str


@dataclass
class Staged:
    """Everything a build reads, and what it could not."""

    sources: list[SessionSource] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)
    bytes_read: int = 0
    bundles_new: int = 0
    bundles_known: int = 0
    duplicates: int = 0


class Staging:
    """The build's unpacked copy of the bundles, kept in ``root`` between runs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data_dir = root / "data"
        self.state_path = root / "state.json"
        state = orjson.loads(self.state_path.read_bytes()) if self.state_path.exists() else {}
        self.bundles: dict[str, dict[str, Any]] = state.get("bundles", {})
        """sha256 → {"key", "install", "sessions"} of each bundle unpacked."""
        self.rejected: dict[str, dict[str, str]] = state.get("rejected", {})
        """sha256 → {"key", "reason"}: bundles that could not be unpacked."""

    def save(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        state = {"bundles": self.bundles, "rejected": self.rejected}
        self.state_path.write_bytes(orjson.dumps(state, option=orjson.OPT_SORT_KEYS))

    def add(self, key: str, data: bytes, install_hint: str | None) -> str | None:
        """Unpack one bundle unless it is known; return why it was rejected, or ``None``."""
        sha = sha256_hex(data)
        if sha in self.bundles:
            return None
        if sha in self.rejected:
            return self.rejected[sha]["reason"]
        try:
            bundle = read_bundle(data)
        except BundleError as exc:
            self.rejected[sha] = {"key": key, "reason": str(exc)}
            return str(exc)
        install = str(bundle.manifest.get("installId") or install_hint or "unknown")
        labels = bundle.manifest.get("sessions")
        verified = sorted(
            str(session)
            for session, label in (labels.items() if isinstance(labels, dict) else ())
            if isinstance(label, dict) and label.get("verified") is True
        )
        sessions: set[str] = set()
        for name, content in bundle.members.items():
            if name.startswith("sessions/"):
                sessions.add(name.split("/")[1])
                target = self.data_dir / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)
            elif name.startswith("snapshots/blobs/"):
                write_blob(self.data_dir, content)
            elif name.startswith("snapshots/manifests/"):
                target = manifest_path(self.data_dir, Path(name).stem)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)
        self.bundles[sha] = {"key": key, "install": install, "sessions": sorted(sessions), "verified": verified}
        return None

    def contributors(self) -> dict[str, str]:
        """session id → contributor pseudonym, from the bundles that brought it."""
        return {s: pseudonym(b["install"]) for b in self.bundles.values() for s in b["sessions"]}

    def verified_before_redaction(self) -> set[str]:
        """Sessions whose every bundle says that ``crowdcode verify`` passed on the recording
        machine, before redaction (the manifest's label)."""
        brought: dict[str, bool] = {}
        for bundle in self.bundles.values():
            for session in bundle["sessions"]:
                brought[session] = brought.get(session, True) and session in bundle.get("verified", ())
        return {session for session, verified in brought.items() if verified}

    def fingerprints(self) -> dict[str, str]:
        """session id → a hash of the bundles that brought it: it changes exactly when a new
        bundle adds to the session, so a cached result stays valid until then."""
        shas: dict[str, list[str]] = {}
        for sha, bundle in self.bundles.items():
            for session in bundle["sessions"]:
                shas.setdefault(session, []).append(sha)
        return {s: hashlib.sha256("".join(sorted(v)).encode()).hexdigest() for s, v in shas.items()}


def stage(refs: list[str], staging: Staging, storage_options: dict[str, Any] | None = None) -> Staged:
    """Read every SOURCE: unpack new bundles into ``staging``, and list the sessions to build."""
    staged = Staged()
    direct: list[SessionSource] = []
    for ref in refs:
        if _is_store(ref):
            _read_store(ref, staging, staged, storage_options)
        elif ref.endswith(BUNDLE_SUFFIX):
            path = Path(ref)
            if not path.is_file():
                raise CrowdcodeError(f"{ref}: no such bundle")
            _add(staging, staged, str(path.resolve()), path.read_bytes(), None)
        elif Path(ref).exists() and (Path(ref).is_dir() or is_bundle(Path(ref))):
            direct += _local_sessions(Path(ref), staging, staged)
        else:
            raise CrowdcodeError(f"{ref}: not an ingest store, bundle, session directory or crowd-code 2.0 bundle")
    staging.save()
    contributors = staging.contributors()
    verified = staging.verified_before_redaction()
    unpacked = []
    if contributors:
        unpacked = [
            replace(
                source,
                contributor=contributors[source.session_id],
                masked_after_verifying=source.session_id in verified,
            )
            for source in resolve([str(staging.data_dir)])
            if source.session_id in contributors
        ]
    staged.sources = _deduplicate(unpacked + direct, staged)
    return staged


def _is_store(ref: str) -> bool:
    if "://" in ref and not ref.startswith("file://"):
        return True
    path = Path(ref.removeprefix("file://"))
    return (path / "bundles").is_dir() and not (path / "sessions").is_dir()


def _read_store(url: str, staging: Staging, staged: Staged, storage_options: dict[str, Any] | None) -> None:
    fs, root = fsspec.core.url_to_fs(url, **(storage_options or {}))
    root = root.rstrip("/")
    keys = sorted(k for k in fs.find(f"{root}/bundles") if k.endswith(BUNDLE_SUFFIX))
    known = {b["key"] for b in staging.bundles.values()}
    rejected = {r["key"]: r["reason"] for r in staging.rejected.values()}
    for key in keys:
        if key in known:  # unpacked by an earlier run: not read again
            staged.bundles_known += 1
            continue
        if key in rejected:
            staged.quarantined.append(Quarantined(key, f"bundle rejected: {rejected[key]}"))
            continue
        install = key.rsplit("/", 2)[-2]
        _add(staging, staged, key, fs.cat(key), install)


def _add(staging: Staging, staged: Staged, key: str, data: bytes, install: str | None) -> None:
    staged.bytes_read += len(data)
    sha = sha256_hex(data)
    if sha in staging.bundles:
        if staging.bundles[sha]["key"] != key:
            staged.duplicates += 1  # the same bytes stored or given twice: one copy
        else:
            staged.bundles_known += 1
        return
    problem = staging.add(key, data, install)
    if problem is not None:
        staged.quarantined.append(Quarantined(key, f"bundle rejected: {problem}"))
    else:
        staged.bundles_new += 1


def _local_sessions(path: Path, staging: Staging, staged: Staged) -> list[SessionSource]:
    """Session directories and crowd-code 2.0 bundles: read in place. Their contributor is this
    machine's install (journals) or the crowd-code session itself (no contributor id there)."""
    sources = resolve([str(path)])
    for source in sources:
        staged.bytes_read += source.size()
    if (path / SESSION_FILE).is_file() or (path / "sessions").is_dir() or path.name == "sessions":
        return [replace(s, contributor=_local_contributor(s)) for s in sources]
    return [replace(s, contributor=pseudonym(f"crowd-code:{s.session_id}")) for s in sources]


def _local_contributor(source: SessionSource) -> str:
    """The install id of the data directory the session is in (``install.json``), else the
    directory itself: sessions of one data directory are one contributor's."""
    data_dir = Path(source.data_dir or source.path)
    try:
        install = str(orjson.loads((data_dir / "install.json").read_bytes())["installId"])
    except (OSError, ValueError, KeyError, TypeError):
        install = os.fspath(data_dir.resolve())
    return pseudonym(install)


def _deduplicate(sources: list[SessionSource], staged: Staged) -> list[SessionSource]:
    """One copy of each session: the same id given twice (a bundle and its session directory, a
    crowd-code bundle given twice), or the same recorded events under two ids."""
    kept: dict[str, SessionSource] = {}
    contents: set[str] = set()
    for source in sources:
        if source.session_id in kept:
            staged.duplicates += 1
            continue
        digest = _content(source)
        if digest is not None and digest in contents:
            staged.duplicates += 1
            continue
        if digest is not None:
            contents.add(digest)
        kept[source.session_id] = source
    return sorted(kept.values(), key=lambda s: s.session_id)


def _content(source: SessionSource) -> str | None:
    """A hash of a journal's events with session ids left out, or ``None`` for other kinds."""
    if source.kind != "journal":
        return None
    from .. import journal

    digest = hashlib.sha256()
    try:
        for segment in journal.segments(Path(source.path)):
            digest.update(segment.read_bytes().replace(source.session_id.encode(), b""))
    except OSError:
        return None
    return digest.hexdigest()
