"""One contributor's overlapping sessions of one workspace, read as one timeline.

A person often records one repository through two adapters at once: a Neovim session and a
``crowdcode shell`` terminal, VS Code and a terminal. Each session's journal holds only what its
adapter saw, and the workspace's changes on disk are in the session that recorded them (the
workspace's owner, or the editor whose engine watches the files: docs/attribution.md). Serialized
one by one, the terminal's conversation would run ``sed`` on files it never saw change, and the
editor's would lack the commands that changed them. Merged, the conversation is what happened.

The rule (docs/dataset.md, "Merged timelines"):

* **Clock.** Events are ordered by ``timestamp``, the recorder's epoch milliseconds (a wall-clock
  reading at the session's start advanced by the monotonic clock, so never backwards within a
  session; sessions of one machine share the wall clock).
* **Ties** (the same millisecond) go to the session that started first (the order of ``parts``).
  A session's own events are never reordered, whatever their timestamps: its order is the truth
  its ``lastEditSequence`` references and replays rely on.
* **Numbering.** The timeline's events are numbered 1, 2, … in merged order; a ``file_save``'s
  ``lastEditSequence`` is renumbered with the edit it names. Provenance names every session.
* **Workspace events once.** A ``file_change`` that leaves a file as another session already
  recorded it (the same ``content.sha256``, or a deletion of a file already deleted) is the same
  change seen twice (two engines watching one file, or a save seen as a change) and is dropped;
  the first record stands. A ``file_change`` with ``savedIn`` naming a session of the timeline
  is the workspace owner's record of that session's ``file_save`` (docs/attribution.md): the
  save stands, the record is dropped, wherever the two clocks put them. Snapshots are all kept:
  each is a statement of the disk that ``crowdcode verify`` checks against the replay so far.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from typing import Any

DELETED = "deleted"


def merge(parts: list[tuple[str, Iterable[dict[str, Any]]]]) -> Iterator[dict[str, Any]]:
    """The events of ``parts`` (session id, its events in journal order; the first-started first)
    as one timeline. Events are copied, never changed in place."""
    tagged = [_tagged(events, index) for index, (_, events) in enumerate(parts)]
    sessions = {session for session, _ in parts}
    renumbered: list[dict[int, int]] = [{} for _ in parts]
    files: dict[str, tuple[str, int]] = {}
    """Each file's last recorded state on disk (content hash or DELETED) and who recorded it."""
    sequence = 0
    for event, index in heapq.merge(*tagged, key=lambda item: (item[0].get("timestamp", 0), item[1])):
        action = event.get("action") if event.get("type") == "action" else None
        if action is not None and (action.get("savedIn") in sessions or _duplicate(action, index, files)):
            continue
        sequence += 1
        old = event.get("sequence")
        if isinstance(old, int):
            renumbered[index][old] = sequence
        event = {**event, "sequence": sequence}
        if action is not None:
            event["action"] = _renumber(action, renumbered[index])
        yield event


def _tagged(events: Iterable[dict[str, Any]], index: int) -> Iterator[tuple[dict[str, Any], int]]:
    for event in events:
        yield event, index


def _duplicate(action: dict[str, Any], index: int, files: dict[str, tuple[str, int]]) -> bool:
    """Note the file state an action records; whether it is a change another session recorded."""
    kind = action.get("kind")
    if kind not in ("file_save", "file_change"):
        return False
    rel = action.get("file")
    if not isinstance(rel, str):
        return False
    state = DELETED if action.get("changeType") == "delete" else (action.get("content") or {}).get("sha256")
    if state is None:  # a change known by its diff only: nothing to compare, it stands
        files.pop(rel, None)
        return False
    known = files.get(rel)
    if kind == "file_change" and known is not None and known[0] == state and known[1] != index:
        return True
    files[rel] = (state, index)
    return False


def _renumber(action: dict[str, Any], renumbered: dict[int, int]) -> dict[str, Any]:
    last = action.get("lastEditSequence")
    if isinstance(last, int) and last in renumbered:
        return {**action, "lastEditSequence": renumbered[last]}
    return action
