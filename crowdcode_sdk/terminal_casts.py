"""Cutting a terminal's raw stream (``<session>/terminals/<id>.cast``) at a panic cutoff.

The stream is the adapter's (``crowdcode shell`` writes it) but a panic must reach it after the
adapter is gone too, when the session has ended: so the cut lives in the core, on the file format
alone (asciicast v2: a header with the start time, then ``[seconds, code, data]`` lines).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from .locations import write_private_atomic


def start_ms(header: dict[str, Any]) -> int:
    """The stream's start (epoch ms): crowdcode's exact field, else asciicast's whole seconds."""
    exact = (header.get("crowdcode") or {}).get("timestampMs")
    return int(exact) if exact else int(header.get("timestamp", 0)) * 1000


def truncate_since(path: Path, cutoff_ms: int) -> int:
    """Drop every event at or after ``cutoff_ms`` (epoch ms), and any line that cannot be read;
    returns how many lines went."""
    lines = path.read_bytes().splitlines()
    if not lines:
        return 0
    try:
        limit = (cutoff_ms - start_ms(orjson.loads(lines[0]))) / 1000
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
        path.unlink()  # no start time: nothing in it can be shown to be older than the cutoff
        return len(lines)
    keep = [lines[0]]
    for line in lines[1:]:
        try:
            at = orjson.loads(line)[0]
        except (orjson.JSONDecodeError, IndexError, KeyError, TypeError):
            continue
        if isinstance(at, int | float) and at < limit:
            keep.append(line)
    if len(keep) < len(lines):
        write_private_atomic(path, b"\n".join(keep) + b"\n")
    return len(lines) - len(keep)


def truncate_session_casts(session_dir: Path, cutoff_ms: int) -> int:
    removed = 0
    for path in sorted((session_dir / "terminals").glob("*.cast")):
        try:
            removed += truncate_since(path, cutoff_ms)
        except FileNotFoundError:
            continue
    return removed
