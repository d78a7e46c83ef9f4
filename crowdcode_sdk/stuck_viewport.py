"""The trivially wrong viewport: one that never changes while the cursor moves off it.

An editor scrolls to keep its cursor in view, so a recording in which the cursor keeps landing
outside the recorded viewport, and the viewport never moves, lost its viewport updates somewhere
between the editor and the journal (VS Code's extension once dropped every one of them for months
while everything else was recorded). ``crowdcode status`` reports such a live or recent session
as suspicious.

Editors send the cursor at once and the viewport at the sampling rate, so one cursor line outside
the last viewport is normal for an interval; it takes :data:`ESCAPES` distinct lines outside it,
spread over at least :data:`PERSISTS_MS`, with no viewport change of that file in between.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

ESCAPES = 3
PERSISTS_MS = 2000


@dataclass
class _View:
    first: int  # 1-based, inclusive
    last: int
    escapes: dict[int, int] = field(default_factory=dict)  # cursor line (0-based) → first seen at


def stuck_viewport(events: Iterable[dict[str, Any]]) -> str | None:
    """Why the viewport of these journal events (wire form) looks stuck, or ``None``."""
    views: dict[str, _View] = {}
    for event in events:
        kind = event.get("type")
        if kind == "observation":
            viewport = (event.get("observation") or {}).get("viewport")
            if not isinstance(viewport, dict):
                continue
            file, first, last = viewport.get("file"), viewport.get("startLine"), viewport.get("endLine")
            if not (isinstance(file, str) and isinstance(first, int) and isinstance(last, int)):
                continue
            view = views.get(file)
            if view is None or (view.first, view.last) != (first, last):
                views[file] = _View(first, last)
            cursor = viewport.get("cursorPosition")
        elif kind == "action" and (event.get("action") or {}).get("kind") == "selection":
            action = event["action"]
            file = action.get("file")
            cursor = action.get("cursorPosition") or action.get("selectionEnd")
        else:
            continue
        view = views.get(file) if isinstance(file, str) else None
        line = cursor.get("line") if isinstance(cursor, dict) else None
        if view is None or not isinstance(line, int) or view.first <= line + 1 <= view.last:
            continue
        view.escapes.setdefault(line, int(event.get("timestamp") or 0))
        seen = sorted(view.escapes.values())
        if len(seen) >= ESCAPES and seen[-1] - seen[0] >= PERSISTS_MS:
            lines = sorted(n + 1 for n in view.escapes)
            return (
                f"the viewport of {file} stayed at lines {view.first}-{view.last} while the cursor moved "
                f"to lines {_listed(lines)}: viewport updates may not be reaching the recorder"
            )
    return None


def _listed(lines: list[int]) -> str:
    shown = ", ".join(str(n) for n in lines[:5])
    return shown + (f" and {len(lines) - 5} more" if len(lines) > 5 else "")


__all__ = ["ESCAPES", "PERSISTS_MS", "stuck_viewport"]
