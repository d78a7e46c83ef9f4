"""Does a recording prove itself? Replay every file through a session and check its evidence.

Each file has two texts, as in the editor: the **disk** (from workspace snapshots, then saves and
``file_change`` diffs) and the **buffer** (from its ``file_open``, then ``edit`` events). A save
writes the buffer as it was after its ``lastEditSequence``. Every ``content.sha256`` recorded at a
``file_open``, ``file_save`` or ``file_change``, and every file of a later snapshot, must match the
replayed text, and every edit must lie inside its buffer. What the recorder deliberately did not
read (a file too large or binary) is reported as unchecked, never as a mismatch.

This is the acceptance check of every adapter: a recording that verifies rebuilds the exact bytes
that were on disk, which is what a serializer or a replay needs. It reads wire dicts, as the
serializer does, to run at tens of MB/s.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from . import journal
from .attribution.diffs import PatchError, apply_diff
from .attribution.snapshots import SnapshotStore
from .errors import CrowdcodeError
from .locations import write_private_atomic
from .positions import EMPTY_SHA256, PositionError, text_sha256
from .store import SessionInfo, Store

EDIT_OUT_OF_BOUNDS = "edit out of bounds"
OPEN_HASH = "open hash"
SAVE_HASH = "save hash"
CHANGE_HASH = "change hash"
CHANGE_DIFF = "change diff"
SNAPSHOT_HASH = "snapshot hash"
MISSING_INITIAL = "missing initial content"
MISSING_SNAPSHOT = "missing snapshot"
MALFORMED = "malformed event"

MAX_LISTED = 100
"""Mismatches listed per session (all are counted)."""


@dataclass(frozen=True)
class Mismatch:
    sequence: int
    file: str | None
    kind: str
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"sequence": self.sequence, "file": self.file, "kind": self.kind, "detail": self.detail}


@dataclass
class Verdict:
    """What :func:`verify` found: ``ok`` when nothing mismatched."""

    session_id: str
    events: int = 0
    checks: int = 0
    """Hashes compared and edits bounds-checked."""
    mismatch_count: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    unchecked: dict[str, str] = field(default_factory=dict)
    """Files whose content the recording deliberately lacks (file → why)."""

    @property
    def ok(self) -> bool:
        return self.mismatch_count == 0

    @property
    def first(self) -> Mismatch | None:
        return self.mismatches[0] if self.mismatches else None

    def add(self, sequence: int, file: str | None, kind: str, detail: str = "") -> None:
        self.mismatch_count += 1
        if len(self.mismatches) < MAX_LISTED:
            self.mismatches.append(Mismatch(sequence, file, kind, detail))

    def summary(self) -> str:
        """One line: ``verified`` or ``N mismatches``, with the first one."""
        if self.ok:
            return f"{self.session_id}  verified ({self.checks} checks, {self.events} events)"
        first = self.mismatches[0]
        noun = "mismatch" if self.mismatch_count == 1 else "mismatches"
        return (
            f"{self.session_id}  {self.mismatch_count} {noun}: first at #{first.sequence} "
            f"{first.file or '-'}: {first.kind}" + (f" ({first.detail})" if first.detail else "")
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Verdict:
        return cls(
            session_id=data["session"],
            events=data["events"],
            checks=data["checks"],
            mismatch_count=data["mismatchCount"],
            mismatches=[Mismatch(**m) for m in data["mismatches"]],
            unchecked=data["unchecked"],
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "session": self.session_id,
            "verified": self.ok,
            "events": self.events,
            "checks": self.checks,
            "mismatchCount": self.mismatch_count,
            "mismatches": [m.to_json() for m in self.mismatches],
            "unchecked": self.unchecked,
        }


class Snapshots:
    """A session's workspace snapshots: ``manifest(id)`` → (``{relpath: sha256}``, skipped files
    with why) and ``text(sha)``. Journals keep them in their data directory's snapshot store."""

    def __init__(self, data_dir: Path | None) -> None:
        self._store = SnapshotStore(data_dir) if data_dir is not None else None

    def manifest(self, snapshot_id: str) -> tuple[dict[str, str], dict[str, str]] | None:
        found = self._store.load(snapshot_id) if self._store is not None else None
        return (found.files, found.skipped) if found is not None else None

    def text(self, sha: str) -> str | None:
        data = self._store.blobs.get(sha) if self._store is not None else None
        try:
            return data.decode("utf-8") if data is not None else None
        except UnicodeDecodeError:
            return None


class TextSnapshots(Snapshots):
    """Snapshots whose files come as text (crowd-code 2.0 bundles)."""

    def __init__(self, load: Callable[[str], dict[str, str] | None]) -> None:
        super().__init__(None)
        self._load = load
        self._texts: dict[str, str] = {}

    def manifest(self, snapshot_id: str) -> tuple[dict[str, str], dict[str, str]] | None:
        files = self._load(snapshot_id)
        if files is None:
            return None
        shas = {}
        for rel, text in files.items():
            sha = text_sha256(text)
            self._texts[sha] = text
            shas[rel] = sha
        return shas, {}

    def text(self, sha: str) -> str | None:
        return self._texts.get(sha)


_UNREADABLE = "unreadable"
_REMOVED = "edited in time a panic removed"
_MASKED = "secrets masked after the recording verified"


@dataclass
class _Disk:
    """One file on disk as replayed: ``text`` and/or ``sha``; ``exists``; ``unreadable`` when the
    recording deliberately holds no content for it."""

    text: str | None = None
    sha: str | None = None
    exists: bool = True
    unreadable: str | None = None

    def digest(self) -> str:
        if self.sha is None:
            self.sha = text_sha256(self.text or "")
        return self.sha


class _Buffer:
    """An editor buffer as UTF-16-LE bytes: a schema edit is then one slice assignment at twice its
    offsets (a memmove in C), never a walk over the text to count code units.

    ``base`` is the text at the last save (or the open) and ``pending`` the edits since, so that a
    save whose ``lastEditSequence`` is older than the latest edit writes the right text.
    """

    __slots__ = ("base", "data", "open_sha", "pending", "untracked")

    def __init__(self, text: str | None, open_sha: str | None = None, *, untracked: bool = False) -> None:
        self.data: bytearray | None = None
        self.base: bytes | None = None
        self.pending: list[tuple[int, int, int, bytes]] = []
        self.open_sha = open_sha
        self.untracked = untracked
        if text is not None:
            self.reset(text)

    @property
    def known(self) -> bool:
        return self.data is not None

    def reset(self, text: str) -> None:
        self.base = text.encode(_UTF16, "surrogatepass")
        self.data = bytearray(self.base)
        self.pending = []

    def forget(self) -> None:
        self.data = self.base = None
        self.pending = []

    def edit(self, sequence: int, offset: int, length: int, new: str) -> None:
        assert self.data is not None
        if offset < 0 or length < 0 or 2 * (offset + length) > len(self.data):
            raise PositionError(f"{offset}+{length} outside 0..{len(self.data) // 2}")
        encoded = new.encode(_UTF16, "surrogatepass")
        self.data[2 * offset : 2 * (offset + length)] = encoded
        self.pending.append((sequence, offset, length, encoded))

    def save(self, through: int | None) -> str:
        """The text a save wrote: the buffer after edit ``through`` (``None``: before any)."""
        assert self.data is not None and self.base is not None
        if not self.pending or (through is not None and through >= self.pending[-1][0]):
            self.base = bytes(self.data)
            self.pending = []
        else:
            saved = bytearray(self.base)
            rest = []
            for edit in self.pending:
                sequence, offset, length, encoded = edit
                if through is not None and sequence <= through:
                    saved[2 * offset : 2 * (offset + length)] = encoded
                else:
                    rest.append(edit)
            self.base = bytes(saved)
            self.pending = rest
        return self.base.decode(_UTF16, "surrogatepass")


_UTF16 = "utf-16-le"


class _Replay:
    def __init__(self, verdict: Verdict, snapshots: Snapshots, *, masked_after_verifying: bool = False) -> None:
        self.verdict = verdict
        self.snapshots = snapshots
        self.masked_after_verifying = masked_after_verifying
        self.disk: dict[str, _Disk] = {}
        self.buffers: dict[str, _Buffer] = {}
        self.reported: set[str] = set()
        """Files with a reported mismatch whose later events would only repeat it."""

    # --- the disk ----------------------------------------------------------------------------

    def disk_text(self, rel: str) -> str | None:
        disk = self.disk.get(rel)
        if disk is None or disk.unreadable:
            return None
        if not disk.exists:
            return ""
        if disk.text is None and disk.sha is not None:
            disk.text = self.snapshots.text(disk.sha)
        return disk.text

    def snapshot(self, sequence: int, snapshot_id: str) -> None:
        manifest = self.snapshots.manifest(snapshot_id)
        if manifest is None:
            self.verdict.add(sequence, None, MISSING_SNAPSHOT, snapshot_id)
            return
        files, skipped = manifest
        for rel, reason in skipped.items():
            self.disk[rel] = _Disk(unreadable=str(reason))
        for rel, sha in files.items():
            known = self.disk.get(rel)
            if known is not None and known.exists and not known.unreadable and (known.text is not None or known.sha):
                self.verdict.checks += 1
                if known.digest() != sha and rel not in self.reported:
                    self.verdict.add(sequence, rel, SNAPSHOT_HASH, "the replayed disk text differs from the snapshot's")
                    self.reported.add(rel)
            self.disk[rel] = _Disk(sha=sha)
            buffer = self.buffers.get(rel)
            if buffer is not None and not buffer.known and not buffer.untracked and buffer.open_sha == sha:
                text = self.disk_text(rel)
                if text is not None:
                    buffer.reset(text)  # opened just before the snapshot, unedited since

    # --- events ------------------------------------------------------------------------------

    def file_open(self, sequence: int, action: dict[str, Any]) -> None:
        rel = action["file"]
        content = action.get("content") or {}
        text = action.get("text")
        if text is None:
            text = self.disk_text(rel)
            if text is None and rel in self.disk and self.disk[rel].unreadable:
                self.buffers[rel] = _Buffer(None, untracked=True)
                self.verdict.unchecked[rel] = self.disk[rel].unreadable or _UNREADABLE
                return
        buffer = _Buffer(text, content.get("sha256"))
        self.buffers[rel] = buffer
        if text is not None and buffer.open_sha is not None:
            self._check(sequence, rel, text, text_sha256(text), buffer.open_sha, OPEN_HASH)
        if action.get("text") is not None and rel not in self.disk:
            # A file outside the snapshots (new, outside the workspace): the open tells its disk text.
            self.disk[rel] = _Disk(text=text, sha=buffer.open_sha)

    def edit(self, sequence: int, action: dict[str, Any]) -> None:
        rel = action["file"]
        buffer = self._buffer(sequence, rel)
        if buffer is None:
            return
        diff = action["diff"]
        offset, length = diff["rangeOffset"], diff["rangeLength"]
        self.verdict.checks += 1
        try:
            buffer.edit(sequence, offset, length, diff["text"])
        except PositionError:
            self._fail(sequence, rel, EDIT_OUT_OF_BOUNDS, f"offset {offset} + length {length} in a shorter buffer")

    def file_save(self, sequence: int, action: dict[str, Any]) -> None:
        rel = action["file"]
        buffer = self._buffer(sequence, rel)
        if buffer is None:
            return
        saved = buffer.save(action.get("lastEditSequence"))
        digest = None
        expected = (action.get("content") or {}).get("sha256")
        if expected is not None:
            digest = text_sha256(saved)
            self._check(sequence, rel, saved, digest, expected, SAVE_HASH)
        self.disk[rel] = _Disk(text=saved, sha=digest)

    def file_change(self, sequence: int, action: dict[str, Any]) -> None:
        rel = action["file"]
        kind = action.get("changeType")
        self.reported.discard(rel)
        if kind == "delete":
            self.disk[rel] = _Disk(exists=False)
            return
        expected = (action.get("content") or {}).get("sha256")
        diff = action.get("diff")
        before = "" if kind == "create" else self.disk_text(rel)
        if diff is None and expected == EMPTY_SHA256:
            self.disk[rel] = _Disk(text="", sha=expected)  # emptied or created empty: no diff to give
            return
        if diff is None or before is None:
            if expected is None:
                self.disk[rel] = _Disk(unreadable=_UNREADABLE)
            else:
                self.disk[rel] = _Disk(sha=expected)  # known by hash only: a later snapshot has the text
            return
        try:
            after = apply_diff(before, diff)
        except PatchError as exc:
            self._fail(sequence, rel, CHANGE_DIFF, str(exc))
            self.disk[rel] = _Disk(sha=expected) if expected else _Disk(unreadable=_UNREADABLE)
            return
        digest = None
        if expected is not None:
            digest = text_sha256(after)
            self._check(sequence, rel, after, digest, expected, CHANGE_HASH)
        self.disk[rel] = _Disk(text=after, sha=digest)

    def file_close(self, sequence: int, action: dict[str, Any]) -> None:
        self.buffers.pop(action["file"], None)

    def panic(self, sequence: int, action: dict[str, Any]) -> None:
        """The person removed the recent past: whatever it changed is unknown. Every file is
        unchecked until a snapshot or an open with its text tells it again."""
        for rel, buffer in self.buffers.items():
            if buffer.known:
                buffer.forget()
                buffer.untracked = True
                self.verdict.unchecked[rel] = _REMOVED
        for rel, disk in self.disk.items():
            if disk.exists and not disk.unreadable:
                self.disk[rel] = _Disk(unreadable=_REMOVED)

    # --- helpers -----------------------------------------------------------------------------

    def _buffer(self, sequence: int, rel: str) -> _Buffer | None:
        """The file's buffer; an edit or save without an open starts from the disk text (the
        editor opened it before the recording began)."""
        buffer = self.buffers.get(rel)
        if buffer is None:
            text = self.disk_text(rel)
            disk = self.disk.get(rel)
            if text is None and disk is not None and disk.unreadable:
                self.verdict.unchecked[rel] = disk.unreadable
                buffer = self.buffers[rel] = _Buffer(None, untracked=True)
            else:
                buffer = self.buffers[rel] = _Buffer(text)
        if buffer.untracked:
            return None
        if not buffer.known:
            if rel not in self.reported:
                self._fail(sequence, rel, MISSING_INITIAL)
            return None
        return buffer

    def _check(self, sequence: int, rel: str, text: str, actual: str, expected: str, kind: str) -> None:
        """``text`` (whose hash is ``actual``) must be what was recorded as ``expected``.

        A hash is recorded as it was, of the text with its secrets, and redaction masks them in
        the text only: an uploaded session that verified before redaction (its bundle says so)
        cannot match there. Where the replayed text shows a mask, the file is unchecked rather
        than failed; its other checks, and every other file, are still made."""
        self.verdict.checks += 1
        if actual == expected or rel in self.reported:
            return
        if self.masked_after_verifying:
            from .redaction.masking import MASK  # here: the package's detectors are slow to import

            if MASK in text:
                self.verdict.unchecked[rel] = _MASKED
                return
        self._fail(sequence, rel, kind, f"replayed {actual[:12]}, recorded {expected[:12]}")

    def _fail(self, sequence: int, rel: str, kind: str, detail: str = "") -> None:
        """Report, and stop trusting the buffer: its later events would only repeat the error."""
        self.verdict.add(sequence, rel, kind, detail)
        self.reported.add(rel)
        buffer = self.buffers.get(rel)
        if buffer is not None:
            buffer.forget()


_HANDLERS: dict[str, Callable[[_Replay, int, dict[str, Any]], None]] = {
    "file_open": _Replay.file_open,
    "edit": _Replay.edit,
    "file_save": _Replay.file_save,
    "file_change": _Replay.file_change,
    "file_close": _Replay.file_close,
    "panic": _Replay.panic,
}


class Verifier:
    """Verifies wire events fed one at a time (the core of :func:`verify`), so that a reader that
    goes through a session anyway — the serializer — checks it in the same pass."""

    def __init__(self, session_id: str, snapshots: Snapshots, *, masked_after_verifying: bool = False) -> None:
        """``masked_after_verifying``: the events are an upload's, redacted after the session
        verified on the recording machine (``_Replay._check`` says what that relaxes)."""
        self.verdict = Verdict(session_id)
        self._replay = _Replay(self.verdict, snapshots, masked_after_verifying=masked_after_verifying)

    def feed(self, event: dict[str, Any]) -> None:
        """Check one event; a malformed one raises ``KeyError``, ``TypeError`` or ``AttributeError``."""
        self.verdict.events += 1
        kind = event.get("type")
        if kind == "action":
            action = event["action"]
            handler = _HANDLERS.get(action.get("kind"))
            if handler is not None:
                handler(self._replay, event["sequence"], action)
        elif kind == "workspace_snapshot":
            self._replay.snapshot(event["sequence"], event["snapshotId"])

    def disk_text(self, rel: str) -> str | None:
        """The file's text on disk as replayed through the events fed so far: from snapshots,
        opens, saves and ``file_change`` diffs; ``""`` once deleted; ``None`` when unknown."""
        return self._replay.disk_text(rel)

    def buffer_text(self, rel: str) -> str | None:
        """The text of the editor's buffer of the file as replayed so far (``None``: no buffer,
        or its text is unknown)."""
        buffer = self._replay.buffers.get(rel)
        if buffer is None or buffer.data is None:
            return None
        return buffer.data.decode(_UTF16, "surrogatepass")

    def passing(self, events: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """``events`` unchanged, each checked as it goes by. A malformed event is a mismatch and
        ends the checking, never the reading: one bad session never stops a dataset."""
        checking = True
        for event in events:
            if checking:
                try:
                    self.feed(event)
                except (KeyError, TypeError, AttributeError) as exc:
                    self.verdict.add(self.verdict.events, None, MALFORMED, repr(exc))
                    checking = False
            yield event


def verify_events(session_id: str, events: Iterable[dict[str, Any]], snapshots: Snapshots) -> Verdict:
    """Verify wire events in order, for any source of events."""
    verifier = Verifier(session_id, snapshots)
    for event in events:
        verifier.feed(event)
    return verifier.verdict


def verify(session: SessionInfo | Path | str, store: Store | None = None) -> Verdict:
    """Verify one recorded session: a :class:`SessionInfo`, its directory, or an id / prefix /
    ``latest``. Raises :class:`CrowdcodeError` when the session cannot be read at all."""
    if isinstance(session, SessionInfo):
        directory = session.directory
    elif isinstance(session, Path) or Path(session).is_dir():
        directory = Path(session)
    else:
        directory = (store or Store()).find(session).directory
    if not directory.is_dir():
        raise CrowdcodeError(f"{directory}: not a session directory")
    data_dir = directory.parent.parent
    try:
        events = (orjson.loads(line) for line in journal.read_lines(directory))
        return verify_events(directory.name, events, Snapshots(data_dir))
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise CrowdcodeError(f"session {directory.name}: malformed event ({exc})") from None


VERDICT_FILE = "verdict.json"


def cached_verify(info: SessionInfo) -> Verdict:
    """:func:`verify` for a session that has ended, kept in its directory beside the journal
    until the journal changes (a panic cuts it): ``crowdcode status`` reports on every session."""
    if info.live:
        return verify(info)
    segments = journal.segments(info.directory)
    key = [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in segments]
    path = info.directory / VERDICT_FILE
    try:
        data = orjson.loads(path.read_bytes())
        if data.get("key") == key:
            return Verdict.from_json(data["verdict"])
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError):
        pass
    verdict = verify(info)
    with contextlib.suppress(OSError):  # a read-only data directory still gets its answer
        write_private_atomic(path, orjson.dumps({"key": key, "verdict": verdict.to_json()}))
    return verdict


__all__ = ["Mismatch", "Snapshots", "TextSnapshots", "Verdict", "Verifier", "cached_verify", "verify", "verify_events"]
