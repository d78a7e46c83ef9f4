"""Choosing what may leave, redacting it and packing it into bundles.

Eligible, per session, in journal order:

- a *sealed* segment (a newer segment exists, or the session is over: closed or crashed) whose
  last event is older than ``privacy.hold_back_s`` — so the panic button can still reach
  everything newer;
- with a session's last segment, once the session ended before the hold-back window: its
  ``session.json`` with the end and its terminals' raw streams (``terminals/*.cast``);
- the workspace snapshots that the bundled events reference, with the files they reference.

Secret files listed in a snapshot manifest are dropped (they should never have been read).
Everything goes through one :class:`~crowdcode_sdk.redaction.Redactor` per session, whose
stream state is kept between bundles in ``<data>/upload/redactors/<session-id>.pickle``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pickle
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import zstandard

from .. import journal
from ..clock import MachineTime
from ..config import Config
from ..errors import CrowdcodeError
from ..ignore import is_secret
from ..locations import Locations, install_identity, private_dir, write_private_atomic
from ..redaction import Redactor
from ..store import LOCAL_KEYS, SESSION_FILE, SessionInfo, Store
from ..verification import verify
from .bundle import BundleWriter, sha256_hex
from .quarantine import DAMAGE, Quarantine
from .queue import Entry, UploadQueue


def snapshot_dirs(locations: Locations) -> tuple[Path, Path]:
    """Where the attribution engine's workspace snapshots live: (manifests, blobs)."""
    root = locations.data_dir / "snapshots"
    return root / "manifests", root / "blobs"


def blob_path(blobs: Path, sha: str) -> Path:
    return blobs / sha[:2] / sha


@dataclass
class SessionWork:
    info: SessionInfo
    segments: list[Path] = field(default_factory=list)
    final: bool = False


def eligible(locations: Locations, now: MachineTime, hold_back_ms: int, covered: set[str]) -> Iterator[SessionWork]:
    """The data that may leave now; see the module docstring. ``covered``: local paths that a
    queued bundle already carries. The window is measured on each session's own timestamps at
    ``now`` on the machine's clock (:mod:`crowdcode_sdk.clock`), so a wall clock moved in the
    recorder or here neither sends anything early nor holds it for ever."""
    store = Store(locations)
    for info in store.sessions():
        if str(info.directory) in covered:
            continue
        cutoff = info.now_ms(now) - hold_back_ms
        ready = store.eligible_segments(info, cutoff)
        work = SessionWork(info, [s for s in ready if str(s) not in covered])
        # The session leaves whole (and its directory goes after the ack) only when every segment
        # goes in this bundle: none still held back, none in an unacknowledged earlier bundle.
        everything = len(ready) == len(journal.segments(info.directory)) == len(work.segments)
        work.final = not info.live and everything and info.end is not None and info.end < cutoff
        if work.segments or work.final:
            yield work


class BundleBuilder:
    """Builds bundles for eligible sessions into the queue."""

    def __init__(self, locations: Locations, config: Config, queue: UploadQueue) -> None:
        self.locations = locations
        self.config = config
        self.queue = queue
        self.states = locations.data_dir / "upload" / "redactors"
        self.quarantine = Quarantine(locations)
        from .. import __version__

        self._sdk_version = __version__
        self._install_id = install_identity(locations).install_id
        self._blob_digests: dict[str, str] = {}
        """Local blob id -> id of its redacted content, for blobs already in the current bundle."""
        self._manifests: dict[str, dict[str, Any]] = {}
        """Snapshot manifests read for :func:`snapshot_text`, by id."""

    def build(self) -> list[Entry]:
        hold_back_ms = self.config["privacy.hold_back_s"] * 1000
        covered = self.queue.covered()
        built = []
        for work in eligible(self.locations, MachineTime.now(), hold_back_ms, covered):
            try:
                built.extend(self._session(work))
            except DAMAGE as exc:  # one session's bad data stops that session, not the others
                self.quarantine.add(work.info.id, f"not uploaded: {type(exc).__name__}: {exc}")
        self._forget_gone_sessions()
        return built

    def _forget_gone_sessions(self) -> None:
        """Drop the redaction state and quarantine note of sessions that no longer exist
        (uploaded, panicked, deleted by hand)."""
        self.quarantine.forget(
            {s for s in self.quarantine.sessions() if not (self.locations.sessions_dir / s).exists()}
        )
        if self.states.is_dir():
            for path in self.states.glob("*.pickle"):
                if not (self.locations.sessions_dir / path.stem).exists():
                    with contextlib.suppress(OSError):
                        path.unlink()

    def _session(self, work: SessionWork) -> list[Entry]:
        redactor = self._load_state(work.info.id)
        redactor.snapshot_text = functools.partial(snapshot_text, self.locations, self._manifests)
        limit = self.config["upload.bundle_max_bytes"]
        entries = []
        segments = list(work.segments)
        verified = _verified(work.info)
        while True:
            writer, entry = self._new_bundle()
            writer.sessions.setdefault(work.info.id, {"segments": [], "final": False})["verified"] = verified
            before = Counter(redactor.counts)
            while segments and (not entry.segments or writer.raw_size < limit):
                segment = segments.pop(0)
                self._add_segment(writer, entry, work.info, segment, redactor)
            final = work.final and not segments
            if final:
                self._add_final(writer, entry, work.info, redactor)
            self._add_session_file(writer, work.info, redactor, final)
            entry.redactions = dict(Counter(redactor.counts) - before)
            writer.redactions = entry.redactions
            entries.append(self._finish(writer, entry))
            if not segments:
                break
        if work.final:
            with contextlib.suppress(FileNotFoundError):
                self._state_path(work.info.id).unlink()
        else:
            redactor.settle()
            self._save_state(work.info.id, redactor)
        return entries

    def _new_bundle(self) -> tuple[BundleWriter, Entry]:
        writer = BundleWriter(install_id=self._install_id, sdk_version=self._sdk_version)
        return writer, Entry(
            sha256="", size=0, created_at=time.time_ns() // 1_000_000, events=0, built=MachineTime.now().to_wire()
        )

    def _add_segment(
        self, writer: BundleWriter, entry: Entry, info: SessionInfo, segment: Path, redactor: Redactor
    ) -> None:
        lines = list(journal.read_lines_of(segment))
        damaged: list[bytes] = []
        redacted = redactor.lines(lines, lookahead=_following_lines(info, segment), damaged=damaged.append)
        if damaged:
            self.quarantine.add(info.id, f"{len(damaged)} unreadable line(s) in {segment.name} left out")
        writer.add(f"sessions/{info.id}/{segment.name}", b"\n".join(redacted) + b"\n" if redacted else b"")
        entry.segments.append(str(segment))
        entry.events += len(redacted)
        session = writer.sessions.setdefault(info.id, {"segments": [], "final": False})
        session["segments"].append(segment.name)
        for event in journal.decoded(line for line in lines if b'"workspace_snapshot"' in line):
            if event.get("type") == "workspace_snapshot":
                self._add_snapshot(writer, str(event.get("snapshotId")), redactor)

    def _add_snapshot(self, writer: BundleWriter, snapshot_id: str, redactor: Redactor) -> None:
        manifest = resolve_manifest(self.locations, snapshot_id)
        if manifest is None:
            return  # removed by a panic, or never written: the event stays as a marker
        _, blobs = snapshot_dirs(self.locations)
        files: dict[str, str] = {}
        for relpath, sha in (manifest.get("files") or {}).items():
            if is_secret(relpath):
                redactor.counts["secret_file"] += 1
                continue
            digest = self._blob_digests.get(sha)
            if digest is None or f"snapshots/blobs/{digest}" not in writer.members:
                digest = self._add_blob(writer, blob_path(blobs, str(sha)), redactor)
                if digest is None:
                    continue
                self._blob_digests[sha] = digest
            files[redactor.path(relpath)] = digest
        skipped = {redactor.path(p): reason for p, reason in (manifest.get("skipped") or {}).items()}
        rest = redactor.value({k: v for k, v in manifest.items() if k not in ("files", "skipped")})
        name = "".join(c if c.isalnum() or c in "_.-" else "_" for c in snapshot_id)[:100]
        writer.add(f"snapshots/manifests/{name}.json", orjson.dumps({**rest, "skipped": skipped, "files": files}))

    def _add_blob(self, writer: BundleWriter, path: Path, redactor: Redactor) -> str | None:
        content = _read_blob(path)
        if content is None:
            return None
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            redactor.counts["binary_file_dropped"] += 1
            return None
        redacted = redactor.text(text).encode("utf-8")
        digest = sha256_hex(redacted)
        writer.add(f"snapshots/blobs/{digest}", redacted)
        return digest

    def _add_final(self, writer: BundleWriter, entry: Entry, info: SessionInfo, redactor: Redactor) -> None:
        terminals = info.directory / "terminals"
        if terminals.is_dir():
            for path in sorted(terminals.glob("*.cast")):
                name = "".join(c if c.isalnum() or c in "_.-" else "_" for c in path.stem)[:100]
                writer.add(f"sessions/{info.id}/terminals/{name}.cast", redactor.cast(path.read_bytes()))
        entry.final_sessions.append(str(info.directory))
        entry.snapshots.extend(str(p) for p in session_manifests(self.locations, info.id, writer))
        writer.sessions.setdefault(info.id, {"segments": [], "final": False})["final"] = True

    def _add_session_file(self, writer: BundleWriter, info: SessionInfo, redactor: Redactor, final: bool) -> None:
        try:
            data = orjson.loads((info.directory / SESSION_FILE).read_bytes())
        except (OSError, orjson.JSONDecodeError):
            data = {"metadata": info.metadata}
        if final and data.get("end") is None:  # crashed: the store computed the end
            data.update(end=info.end, eventCount=info.event_count, endReason=info.end_reason)
        redacted: dict[str, Any] = redactor.value({k: v for k, v in data.items() if k not in LOCAL_KEYS})
        writer.add(f"sessions/{info.id}/{SESSION_FILE}", orjson.dumps(redacted))
        writer.sessions.setdefault(info.id, {"segments": [], "final": final})["metadata"] = redacted.get("metadata")

    def _finish(self, writer: BundleWriter, entry: Entry) -> Entry:
        data = writer.build()
        entry.sha256 = sha256_hex(data)
        entry.size = len(data)
        self.queue.ensure()
        self.queue.add(entry, data)
        return entry

    # --- redactor state ---------------------------------------------------------------------------

    def _state_path(self, session_id: str) -> Path:
        return self.states / f"{session_id}.pickle"

    def _load_state(self, session_id: str) -> Redactor:
        # The file is written by this program, 0600 in the user's private data directory.
        with contextlib.suppress(OSError, pickle.UnpicklingError, EOFError, AttributeError, TypeError):
            state = pickle.loads(self._state_path(session_id).read_bytes())
            if isinstance(state, Redactor):
                return state
        return Redactor()

    def _save_state(self, session_id: str, redactor: Redactor) -> None:
        private_dir(self.states)
        write_private_atomic(self._state_path(session_id), pickle.dumps(redactor))


LOOKAHEAD_EVENTS = 5000


def snapshot_text(
    locations: Locations, manifests: dict[str, dict[str, Any]], snapshot_id: str, relpath: str
) -> str | None:
    """A file's text in a snapshot, for the redactor to know what a file held when it was
    opened (never a secret file's); ``manifests`` keeps the snapshots resolved so far."""
    manifest = manifests.get(snapshot_id)
    if manifest is None:
        manifest = manifests[snapshot_id] = resolve_manifest(locations, snapshot_id) or {}
    sha = (manifest.get("files") or {}).get(relpath)
    if not isinstance(sha, str) or is_secret(relpath):
        return None
    content = _read_blob(blob_path(snapshot_dirs(locations)[1], sha))
    try:
        return None if content is None else content.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _verified(info: SessionInfo) -> bool:
    """Whether the session, as recorded here (before redaction), replays to the content it
    recorded; a session that cannot be read is not."""
    try:
        return verify(info).ok
    except CrowdcodeError:
        return False


def _following_lines(info: SessionInfo, segment: Path) -> Iterator[bytes]:
    """The first events after ``segment`` (in the next segment, maybe still being written): where
    a secret whose typing the segment cut off is completed."""
    later = [p for p in journal.segments(info.directory) if p.name > segment.name]
    if later:
        for count, line in enumerate(journal.read_lines_of(later[0])):
            if count >= LOOKAHEAD_EVENTS:
                return
            yield line


def resolve_manifest(locations: Locations, snapshot_id: str) -> dict[str, Any] | None:
    """A snapshot manifest with every file listed: the engine stores later snapshots of a session as
    deltas (``parent``, ``removed``); the bundle gets the whole snapshot so that it stands alone.
    A chain with a missing ancestor is bundled as the delta it is."""
    manifests, _ = snapshot_dirs(locations)
    chain: list[dict[str, Any]] = []
    current: str | None = snapshot_id
    while current is not None and len(chain) < 10_000:
        try:
            manifest = orjson.loads((manifests / f"{current}.json").read_bytes())
        except (OSError, orjson.JSONDecodeError):
            if not chain:
                return None
            return chain[0]
        chain.append(manifest)
        current = manifest.get("parent")
    files: dict[str, str] = {}
    for manifest in reversed(chain):
        for relpath in manifest.get("removed") or ():
            files.pop(relpath, None)
        files.update(manifest.get("files") or {})
    top = {k: v for k, v in chain[0].items() if k not in ("parent", "removed")}
    return {**top, "files": files}


def session_manifests(locations: Locations, session_id: str, writer: BundleWriter) -> list[Path]:
    """The manifests to delete once a session's last bundle is acknowledged: those of the session
    (a later delta may name any of them as its parent, so none goes earlier) and those this
    bundle carries."""
    manifests, _ = snapshot_dirs(locations)
    carried = {Path(name).stem for name in writer.members if name.startswith("snapshots/manifests/")}
    found = []
    if manifests.is_dir():
        for path in manifests.glob("*.json"):
            if path.stem in carried:
                found.append(path)
                continue
            with contextlib.suppress(OSError, orjson.JSONDecodeError, AttributeError):
                if orjson.loads(path.read_bytes()).get("sessionId") == session_id:
                    found.append(path)
    return found


def _read_blob(path: Path) -> bytes | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if data[:4] == b"\x28\xb5\x2f\xfd":  # zstd frame magic
        try:
            return zstandard.ZstdDecompressor().decompress(data, max_output_size=256 * 1024 * 1024)
        except zstandard.ZstdError:
            return None
    return data


def unreferenced_blobs(locations: Locations, grace_s: int, now: float | None = None) -> Iterator[Path]:
    """Snapshot blobs no manifest refers to any more and untouched for ``grace_s`` (safe to delete)."""
    manifests, blobs = snapshot_dirs(locations)
    referenced: set[str] = set()
    if manifests.is_dir():
        for path in manifests.glob("*.json"):
            with contextlib.suppress(OSError, orjson.JSONDecodeError, AttributeError):
                referenced.update(str(s) for s in (orjson.loads(path.read_bytes()).get("files") or {}).values())
    if not blobs.is_dir():
        return
    now = time.time() if now is None else now
    for root, _dirs, names in os.walk(blobs):
        for name in names:
            path = Path(root, name)
            with contextlib.suppress(OSError):
                if name not in referenced and path.stat().st_mtime < now - grace_s:
                    yield path
