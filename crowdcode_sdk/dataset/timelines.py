"""Which sessions a dataset reads as one timeline: one contributor's sessions of one workspace that
overlap in time (the timeline itself: :mod:`crowdcode_sdk.serialize.timeline`).

A session's span is its ``startTime`` to its end (``session.json``'s ``end``, else its last
event's timestamp); its workspace is the salted hash of the folder in its metadata, which is the
same for every session of one install (one contributor) on one folder. Sessions whose spans
overlap (one starts before another ends), directly or through a third, form one timeline, named by the one that started first.
Sessions without a workspace, crowd-code 2.0 bundles and sessions of different data directories
(which cannot share snapshots) are never merged.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import orjson

from .. import journal
from ..serialize.sources import SessionSource
from ..store import SESSION_FILE


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    workspace: str


def merge_overlapping(sources: list[SessionSource]) -> tuple[list[SessionSource], int]:
    """``sources`` with each group of overlapping sessions made one source; and how many sessions
    went into another's timeline."""
    groups: dict[tuple[str, str, str], list[tuple[_Span, SessionSource]]] = {}
    alone: list[SessionSource] = []
    for source in sources:
        span = _span(source) if source.kind == "journal" and not source.merged else None
        if span is None:
            alone.append(source)
        else:
            groups.setdefault((source.contributor, source.data_dir or "", span.workspace), []).append((span, source))
    timelines: list[SessionSource] = []
    for members in groups.values():
        members.sort(key=lambda item: (item[0].start, item[1].session_id))
        run: list[SessionSource] = []
        end = 0
        for span, source in members:
            if run and span.start >= end:  # one ended as the next began: not at the same time
                timelines.append(_timeline(run))
                run = []
            end = max(end, span.end) if run else span.end
            run.append(source)
        timelines.append(_timeline(run))
    merged = sum(len(timeline.merged) for timeline in timelines)
    return sorted(alone + timelines, key=lambda s: s.session_id), merged


def _timeline(run: list[SessionSource]) -> SessionSource:
    return replace(run[0], merged=tuple(run[1:]))


def _span(source: SessionSource) -> _Span | None:
    """The session's time and workspace from ``session.json``; ``None`` when it names none."""
    directory = Path(source.path)
    try:
        data = orjson.loads((directory / SESSION_FILE).read_bytes())
        metadata = data["metadata"]
        workspace = (metadata.get("workspace") or {}).get("id")
        start = int(metadata["startTime"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if not workspace:
        return None
    end = data.get("end")
    if not isinstance(end, int):
        end = start
        for line in journal.read_lines(directory):
            try:
                end = max(end, int(orjson.loads(line)["timestamp"]))
            except (ValueError, KeyError, TypeError):
                continue
    return _Span(start, end, str(workspace))
