"""crowd-code 2.0 bundles: our events mapped down to its schema, and its events read back.

A bundle is what crowd-code 2.0 writes and uploads: ``chunk_NNN.json`` files
(``{version:"2.0", sessionId, startTime, chunkIndex, events:[…]}``, compact JSON), snapshots as
``snapshots/<snapshotId>.json`` and both packed as ``source_part_NNN.tar.gz``. See
docs/crowd-code-compat.md for the field-by-field mapping and what is dropped.
"""

from __future__ import annotations

import io
import posixpath
import re
import tarfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ..errors import CrowdcodeError

VERSION = "2.0"
CHUNK_MS = 5 * 60 * 1000
"""crowd-code flushes a chunk every 5 minutes; the exporter cuts chunks at the same period."""
CHUNKS_PER_PART = 6
"""crowd-code uploads every 30 minutes: six chunks per ``source_part``."""

SOURCES = ("user", "agent", "unknown", "git", "git_checkout")
REASONS = ("undo", "redo")

# The fields each 2.0 action kind has (src/types.ts), besides kind and source.
ACTION_FIELDS: dict[str, tuple[str, ...]] = {
    "edit": ("file", "diff", "reason"),
    "selection": ("file", "selectionStart", "selectionEnd", "selectedText"),
    "tab_switch": ("file", "previousFile"),
    "terminal_focus": ("terminalId", "terminalName"),
    "terminal_command": ("terminalId", "terminalName", "command"),
    "file_change": ("file", "changeType", "diff"),
}
_CHUNK_NAME = re.compile(r"(?:^|/)chunk_(\d+)\.json$")
_SNAPSHOT_NAME = re.compile(r"(?:^|/)snapshots/([^/]+)\.json$")
_PART_NAME = re.compile(r"^source_part_(\d+)\.tar\.gz$")


# --- ours -> 2.0 ---------------------------------------------------------------------------------


class DownMapper:
    """Maps our wire events to 2.0 events, one at a time, renumbering sequences from 1.

    Kept: the three envelope types; the six 2.0 action kinds with only their 2.0 fields.
    Converted: ``file_open`` of a file other than the active one → ``tab_switch`` (2.0 logs a
    tab switch when a file becomes active); source ``external`` → ``unknown``; edit reasons other
    than undo/redo dropped; terminal observations keep ``id``, ``name`` and ``viewport`` (our rows
    are rendered screens, theirs raw stream lines). Snapshot ids become ``snapshot_NNN``.
    Dropped: every other extension kind (session lifecycle, saves, closes, focus, terminal
    input/resize/command end, agent sessions/prompts/responses, panic and gap markers).
    """

    def __init__(self) -> None:
        self.sequence = 0
        self.active_file: str | None = None
        self.snapshot_ids: dict[str, str] = {}
        self.dropped: Counter[str] = Counter()

    def map(self, event: dict[str, Any]) -> dict[str, Any] | None:
        kind = event["type"]
        if kind == "observation":
            payload: dict[str, Any] = {"observation": _observation_down(event["observation"])}
        elif kind == "workspace_snapshot":
            original = event["snapshotId"]
            new = self.snapshot_ids.setdefault(original, f"snapshot_{len(self.snapshot_ids) + 1:03d}")
            payload = {"snapshotId": new}
        else:
            action = self._action_down(event["action"])
            if action is None:
                self.dropped[event["action"]["kind"]] += 1
                return None
            payload = {"action": action}
        self.sequence += 1
        return {"sequence": self.sequence, "timestamp": event["timestamp"], "type": kind, **payload}

    def _action_down(self, action: dict[str, Any]) -> dict[str, Any] | None:
        kind = action["kind"]
        if kind == "file_open":
            if action["file"] == self.active_file:
                return None
            action = {"kind": "tab_switch", "source": action.get("source", "user"), "file": action["file"]}
            kind = "tab_switch"
        fields = ACTION_FIELDS.get(kind)
        if fields is None:
            return None
        source = action.get("source") or "user"
        out: dict[str, Any] = {"kind": kind, "source": source if source in SOURCES else "unknown"}
        for name in fields:
            if name in action:
                out[name] = action[name]
        if kind == "tab_switch":
            out["previousFile"] = self.active_file
            self.active_file = action["file"]
        if kind == "edit" and out.get("reason") not in REASONS:
            out.pop("reason", None)
        if kind == "file_change":
            out.setdefault("diff", None)
        return out


def _observation_down(observation: dict[str, Any]) -> dict[str, Any]:
    terminal = observation.get("activeTerminal")
    if terminal is not None:
        terminal = {"id": terminal["id"], "name": terminal["name"], "viewport": terminal["viewport"]}
    return {"viewport": observation.get("viewport"), "activeTerminal": terminal}


@dataclass
class Chunk:
    index: int
    events: list[dict[str, Any]]

    def encode(self, session_id: str, start_time: int) -> bytes:
        return orjson.dumps(
            {
                "version": VERSION,
                "sessionId": session_id,
                "startTime": start_time,
                "chunkIndex": self.index,
                "events": self.events,
            }
        )


def chunk_events(events: Iterable[dict[str, Any]], start_time: int, period_ms: int = CHUNK_MS) -> list[Chunk]:
    """Cut events into disjoint chunks, one per ``period_ms`` of recording that has events."""
    chunks: list[Chunk] = []
    for event in events:
        slot = max(event["timestamp"] - start_time, 0) // period_ms
        if not chunks or chunks[-1].index != slot:
            chunks.append(Chunk(slot, []))
        chunks[-1].events.append(event)
    for number, chunk in enumerate(chunks):  # chunk indexes are consecutive from 0 in crowd-code
        chunk.index = number
    return chunks


def write_bundle(
    out_dir: Path,
    session_id: str,
    start_time: int,
    chunks: list[Chunk],
    snapshots: dict[str, dict[str, str]],
    chunks_per_part: int = CHUNKS_PER_PART,
) -> list[Path]:
    """Write loose chunks and snapshots and pack them into ``source_part_NNN.tar.gz``."""
    (out_dir / "snapshots").mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    encoded: dict[str, bytes] = {}
    for chunk in chunks:
        name = f"chunk_{chunk.index:03d}.json"
        encoded[name] = chunk.encode(session_id, start_time)
        (out_dir / name).write_bytes(encoded[name])
    snapshot_files = {f"snapshots/{sid}.json": orjson.dumps(files) for sid, files in snapshots.items()}
    for name, data in snapshot_files.items():
        (out_dir / name).write_bytes(data)
    for part, first in enumerate(range(0, max(len(chunks), 1), chunks_per_part), start=1):
        members: dict[str, bytes] = {}
        for chunk in chunks[first : first + chunks_per_part]:
            members[f"chunk_{chunk.index:03d}.json"] = encoded[f"chunk_{chunk.index:03d}.json"]
            for event in chunk.events:
                if event["type"] == "workspace_snapshot":
                    name = f"snapshots/{event['snapshotId']}.json"
                    if name in snapshot_files:
                        members[name] = snapshot_files[name]
        path = out_dir / f"source_part_{part:03d}.tar.gz"
        with tarfile.open(path, "w:gz") as tar:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mtime = start_time // 1000
                tar.addfile(info, io.BytesIO(data))
        written.append(path)
    return written


# --- 2.0 -> ours ---------------------------------------------------------------------------------


@dataclass
class Bundle:
    """One crowd-code session read from a bundle."""

    session_id: str
    start_time: int
    events: list[dict[str, Any]] = field(default_factory=list)
    snapshots: dict[str, dict[str, str]] = field(default_factory=dict)


def is_bundle(path: Path) -> bool:
    if path.is_file():
        return path.name.endswith(".tar.gz") or bool(_CHUNK_NAME.search(path.name))
    return path.is_dir() and (any(path.glob("chunk_*.json")) or any(path.glob("source_part_*.tar.gz")))


def read_bundles(path: Path) -> list[Bundle]:
    """Sessions in a bundle: a directory of loose ``chunk_*.json`` (+ ``snapshots/``), a directory
    of ``source_part_*.tar.gz``, or one such archive. Loose chunks win over archives holding the
    same chunks (the exporter writes both)."""
    files: dict[str, bytes] = {}
    if path.is_dir():
        loose = sorted(path.glob("chunk_*.json"))
        if loose:
            for chunk in loose:
                files[chunk.name] = chunk.read_bytes()
            for snapshot in sorted((path / "snapshots").glob("*.json")):
                files[f"snapshots/{snapshot.name}"] = snapshot.read_bytes()
        else:
            for part in sorted(path.glob("source_part_*.tar.gz"), key=_part_number):
                files.update(_tar_members(part))
    elif path.is_file() and path.name.endswith(".tar.gz"):
        files.update(_tar_members(path))
    elif path.is_file():
        files[path.name] = path.read_bytes()
    else:
        raise CrowdcodeError(f"{path}: no such file or directory")
    chunks = []
    snapshots: dict[str, dict[str, Any]] = {}
    for name, data in files.items():
        if _CHUNK_NAME.search(name):
            try:
                chunks.append(orjson.loads(data))
            except orjson.JSONDecodeError as exc:
                raise CrowdcodeError(f"{name}: not valid JSON: {exc}") from None
        elif match := _SNAPSHOT_NAME.search(name):
            snapshots[match[1]] = orjson.loads(data)
    if not chunks:
        hint = ""
        if str(path).endswith(".tar.zst") or (Path(path) / "bundles").is_dir():
            hint = "; it is a crowdcode upload (bundle or ingest store): read it with `crowdcode dataset build`"
        raise CrowdcodeError(f"{path}: no crowd-code 2.0 chunks (chunk_*.json) found{hint}")
    bundles: dict[str, Bundle] = {}
    for chunk in sorted(chunks, key=lambda c: (c.get("sessionId", ""), c.get("chunkIndex", 0))):
        if chunk.get("version") != VERSION:
            raise CrowdcodeError(f"chunk {chunk.get('chunkIndex')}: version {chunk.get('version')!r}, expected '2.0'")
        sid = chunk["sessionId"]
        bundle = bundles.setdefault(sid, Bundle(sid, chunk["startTime"]))
        bundle.events.extend(chunk["events"])
    for bundle in bundles.values():
        ids = {e["snapshotId"] for e in bundle.events if e.get("type") == "workspace_snapshot"}
        files_seen = {e["action"]["file"] for e in bundle.events if "file" in (e.get("action") or {})}
        for sid in ids & snapshots.keys():
            bundle.snapshots[sid] = _relative_snapshot(_snapshot_files(snapshots[sid]), files_seen)
    return list(bundles.values())


def _part_number(path: Path) -> int:
    match = _PART_NAME.match(path.name)
    return int(match[1]) if match else 0


def _tar_members(path: Path) -> dict[str, bytes]:
    members: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                if member.isfile():
                    extracted = tar.extractfile(member)
                    if extracted is not None:
                        members[member.name.removeprefix("./")] = extracted.read()
    except (OSError, tarfile.TarError) as exc:
        raise CrowdcodeError(f"{path}: not a readable tar.gz: {exc}") from None
    return members


def _snapshot_files(data: Any) -> dict[str, str]:
    """A snapshot file's ``{path: text}``: either that mapping itself or under ``files``."""
    if isinstance(data, dict) and isinstance(data.get("files"), dict):
        data = data["files"]
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def _relative_snapshot(files: dict[str, str], known: set[str]) -> dict[str, str]:
    """crowd-code keys snapshots by absolute path; ours are workspace-relative. The workspace
    root is the prefix that turns most keys into paths the events use (else their common dir)."""
    absolute = [k for k in files if k.startswith("/")]
    if not absolute:
        return files
    roots: Counter[str] = Counter()
    for key in absolute:
        for rel in known:
            if key.endswith("/" + rel):
                roots[key[: -len(rel) - 1]] += 1
    common = posixpath.commonpath([posixpath.dirname(k) for k in absolute])
    root = roots.most_common(1)[0][0] if roots else common
    out: dict[str, str] = {}
    for key, text in files.items():
        if key.startswith(root.rstrip("/") + "/"):
            out[key[len(root.rstrip("/")) + 1 :]] = text
        elif not key.startswith("/"):
            out[key] = text
    return out


def events_up(bundle: Bundle) -> Iterator[dict[str, Any]]:
    """A bundle's events as our wire events (2.0 is a subset of our schema), in file order."""
    for event in bundle.events:
        if event.get("type") == "observation":
            observation = event.get("observation") or {}
            yield {
                **event,
                "observation": {
                    "viewport": observation.get("viewport"),
                    "activeTerminal": observation.get("activeTerminal"),
                },
            }
        else:
            yield event
