"""Raw terminal streams (asciicast v2) as a fallback source of command output.

``crowdcode shell`` keeps each terminal's raw output at
``<session dir>/terminals/<terminal_id>.cast`` (docs/schema.md): a JSON header line with
``timestamp`` (epoch seconds), then ``[seconds_since_start, "o", data]`` lines. When no rendered
screen of a command's terminal was observed, its output is the stream between the command's start
and end, cleaned (see :func:`.terminal.clean_raw`).
"""

from __future__ import annotations

import bisect
from pathlib import Path

import orjson

from .terminal import clean_raw


class CastReader:
    """The streams of one session's terminals, or of every session of a merged timeline (terminal
    ids are random per terminal, so one id names one stream)."""

    def __init__(self, *session_dirs: Path) -> None:
        self.directories = [directory / "terminals" for directory in session_dirs]
        self._streams: dict[str, tuple[list[int], list[str]]] = {}

    def _load(self, terminal_id: str) -> tuple[list[int], list[str]]:
        if terminal_id not in self._streams:
            times: list[int] = []
            chunks: list[str] = []
            try:
                lines = self._path(terminal_id).read_bytes().splitlines()
                start_ms = int(orjson.loads(lines[0])["timestamp"] * 1000)
                for line in lines[1:]:
                    try:
                        at, kind, data = orjson.loads(line)
                    except (orjson.JSONDecodeError, ValueError):
                        continue  # a torn last line
                    if kind == "o":
                        times.append(start_ms + int(at * 1000))
                        chunks.append(data)
            except (OSError, IndexError, KeyError, TypeError, orjson.JSONDecodeError):
                pass
            self._streams[terminal_id] = (times, chunks)
        return self._streams[terminal_id]

    def _path(self, terminal_id: str) -> Path:
        name = f"{terminal_id}.cast"
        return next((d / name for d in self.directories if (d / name).is_file()), self.directories[0] / name)

    def output(self, terminal_id: str, start_ms: int, end_ms: int) -> str | None:
        """Cleaned output written in ``[start_ms, end_ms]``; ``None`` without a stream."""
        times, chunks = self._load(terminal_id)
        if not times:
            return None
        first = bisect.bisect_left(times, start_ms)
        last = bisect.bisect_right(times, end_ms)
        return clean_raw("".join(chunks[first:last]))
