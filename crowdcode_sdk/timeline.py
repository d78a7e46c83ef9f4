"""A session's timeline with its workspace's events, whichever session recorded them.

One live session owns a workspace at a time and records its ``file_change`` and
``workspace_snapshot`` events, once, in its own journal (docs/attribution.md). Every other
session on the workspace saw the same disk: its timeline, as ``export`` and ``serialize`` give
it, holds those events too — the ones recorded while it ran, by the sessions on the same
workspace (same ``workspace.id``), merged in by time. The merged timeline is numbered afresh
(``lastEditSequence`` follows its edit); the owner's journal keeps the originals. Each change is
in one journal, so it comes in once. The owner's record of this session's own save (a
``file_change`` with ``savedIn`` naming it) is left out: the session's ``file_save`` is that
change.
"""

from __future__ import annotations

import contextlib
import heapq
import os
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from .journal import decoded, read_lines
from .store import SESSION_FILE

WORKSPACE_KINDS = frozenset({"file_change"})
"""Actions of the workspace (the ``workspace_snapshot`` type is one too)."""


def is_workspace_event(event: dict[str, Any]) -> bool:
    if event.get("type") == "workspace_snapshot":
        return True
    action = event.get("action")
    return isinstance(action, dict) and action.get("kind") in WORKSPACE_KINDS


def workspace_events(directory: Path, leave_out: Collection[str] = ()) -> list[dict[str, Any]]:
    """The workspace events that other sessions on this session's workspace recorded while it
    ran (from its start to its end, or to now while it runs), in time order; none of the
    sessions named in ``leave_out`` (a merged timeline reads their journals itself)."""
    own = _session_file(directory)
    workspace = (own.get("metadata") or {}).get("workspace") or {}
    if not workspace.get("id"):
        return []
    start = int(own["metadata"]["startTime"])
    end = own.get("end") if isinstance(own.get("end"), int) else None
    found: list[tuple[int, int, str, dict[str, Any]]] = []
    with contextlib.suppress(OSError):
        for name in os.listdir(directory.parent):
            other = directory.parent / name
            if other == directory or name in leave_out:
                continue
            data = _session_file(other)
            metadata = data.get("metadata") or {}
            if (metadata.get("workspace") or {}).get("id") != workspace["id"]:
                continue
            other_end = data.get("end")
            if (end is not None and metadata.get("startTime", 0) > end) or (
                isinstance(other_end, int) and other_end < start
            ):
                continue
            for event in decoded(read_lines(other)):
                stamp = event.get("timestamp")
                if (
                    isinstance(stamp, int)
                    and stamp >= start
                    and (end is None or stamp <= end)
                    and is_workspace_event(event)
                    and (event.get("action") or {}).get("savedIn") != directory.name
                ):
                    found.append((stamp, event["sequence"], name, event))
    found.sort(key=lambda item: item[:3])
    return [event for *_, event in found]


def with_workspace_events(
    directory: Path, events: Iterable[dict[str, Any]], leave_out: Collection[str] = ()
) -> Iterator[dict[str, Any]]:
    """``events`` (the session's own, in order) with :func:`workspace_events` merged in by time
    (own events first at equal times), numbered from 1."""
    foreign = workspace_events(directory, leave_out)
    if not foreign:
        yield from events
        return
    renumbered: dict[int, int] = {}
    merged = heapq.merge(
        ((e.get("timestamp", 0), 0, e) for e in events),
        ((e["timestamp"], 1, e) for e in foreign),
        key=lambda item: item[:2],
    )
    for sequence, (_, foreign_event, event) in enumerate(merged, start=1):
        if not foreign_event:
            renumbered[event["sequence"]] = sequence
            action = event.get("action")
            if isinstance(action, dict) and isinstance(action.get("lastEditSequence"), int):
                action["lastEditSequence"] = renumbered.get(action["lastEditSequence"], action["lastEditSequence"])
        event["sequence"] = sequence
        yield event


def _session_file(directory: Path) -> dict[str, Any]:
    try:
        data = orjson.loads((directory / SESSION_FILE).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


__all__ = ["is_workspace_event", "with_workspace_events", "workspace_events"]
