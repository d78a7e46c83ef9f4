"""Raw terminal streams (asciicast v2) as a fallback source of command output.

``crowdcode shell`` keeps each terminal's raw output at
``<session dir>/terminals/<terminal_id>.cast`` (docs/schema.md): a JSON header line with
``timestamp`` (epoch seconds; crowdcode's ``timestampMs`` exactly), then
``[seconds_since_start, "o", data]`` lines. When no rendered screen of a command's terminal was
observed, its output is taken from the stream, cleaned (see :func:`.terminal.clean_raw`).

Where the shell integration marked the command (``ESC ] 6973 ; NONCE ; C ; LINE BEL`` … ``D``),
the output is what lies between its marks. The stream's times cannot delimit it: commands pasted
or typed ahead run within one read of the terminal, so one chunk holds a command's mark, its
output, the next prompt and the next command, and the recorder stamps the command's events a
little after that read. Without marks (a shell without integration), the output is the stream
between the command's start and end.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from pathlib import Path

import orjson

from ..terminal_casts import start_ms
from .terminal import clean_raw

_MARK = re.compile(r"\x1b\]6973;([0-9a-f]+);([A-Z]);?([^\x07\x1b]*)(?:\x07|\x1b\\)")
"""A shell-integration mark (``adapters/crowdcode_shell/integration``): nonce, kind, payload."""
_ALTERNATE_SCREEN = re.compile(r"\x1b\[\?(?:1049|1047|47)h")
_HISTORY_NUMBER = re.compile(r"^\s*\d+\*?\s+")
"""bash's mark carries the line as ``history 1`` prints it, after its number."""


def _is_line(payload: str, command: str) -> bool:
    """Whether a command mark's payload is ``command`` (as the recorder took it from the mark)."""
    return payload.strip() == command or _HISTORY_NUMBER.sub("", payload, count=1).strip() == command


@dataclass(frozen=True)
class _Marked:
    """A command the shell marked: its command line, when its mark was read, where its output is."""

    line: str
    at_ms: int
    output: slice


class CastReader:
    """The streams of one session's terminals, or of every session of a merged timeline (terminal
    ids are random per terminal, so one id names one stream)."""

    def __init__(self, *session_dirs: Path) -> None:
        self.directories = [directory / "terminals" for directory in session_dirs]
        self._streams: dict[str, tuple[list[int], list[str]]] = {}
        self._marked: dict[str, tuple[str, list[_Marked]]] = {}
        self._used: dict[str, set[int]] = {}

    def _load(self, terminal_id: str) -> tuple[list[int], list[str]]:
        if terminal_id not in self._streams:
            times: list[int] = []
            chunks: list[str] = []
            try:
                lines = self._path(terminal_id).read_bytes().splitlines()
                origin = start_ms(orjson.loads(lines[0]))
                for line in lines[1:]:
                    try:
                        at, kind, data = orjson.loads(line)
                    except (orjson.JSONDecodeError, ValueError):
                        continue  # a torn last line
                    if kind == "o":
                        times.append(origin + int(at * 1000))
                        chunks.append(data)
            except (OSError, IndexError, KeyError, TypeError, orjson.JSONDecodeError):
                pass
            self._streams[terminal_id] = (times, chunks)
        return self._streams[terminal_id]

    def _path(self, terminal_id: str) -> Path:
        name = f"{terminal_id}.cast"
        return next((d / name for d in self.directories if (d / name).is_file()), self.directories[0] / name)

    def marked_output(self, terminal_id: str, command: str, start_ms: int) -> str | None:
        """Cleaned output of ``command``, which the recorder stamped at ``start_ms``, between the
        shell's marks; ``None`` where the stream has no mark of it."""
        text, marked = self._marks(terminal_id)
        # Its mark was read before the recorder stamped the command: among the marks of this
        # command line read by then, those of the last read; of several (the same line pasted
        # twice), the first not yet given to an earlier command.
        candidates = [i for i, m in enumerate(marked) if m.at_ms <= start_ms and _is_line(m.line, command)]
        if not candidates:
            return None
        latest = marked[candidates[-1]].at_ms
        used = self._used.setdefault(terminal_id, set())
        index = next((i for i in candidates if marked[i].at_ms == latest and i not in used), candidates[-1])
        used.add(index)
        raw = text[marked[index].output]
        # A full-screen program's stream is its drawing, not lines of output: the screen says more.
        return None if _ALTERNATE_SCREEN.search(raw) else clean_raw(raw)

    def output(self, terminal_id: str, start_ms: int, end_ms: int) -> str | None:
        """Cleaned output written in ``[start_ms, end_ms]``; ``None`` without a stream."""
        times, chunks = self._load(terminal_id)
        if not times:
            return None
        first = bisect.bisect_left(times, start_ms)
        last = bisect.bisect_right(times, end_ms)
        return clean_raw("".join(chunks[first:last]))

    def _marks(self, terminal_id: str) -> tuple[str, list[_Marked]]:
        """The stream's text and the commands marked in it, in order. Only marks with the nonce
        of the stream's first mark count: a file that merely holds such bytes, printed with
        ``cat``, has another or none."""
        if terminal_id not in self._marked:
            times, chunks = self._load(terminal_id)
            offsets = []
            position = 0
            for chunk in chunks:
                offsets.append(position)
                position += len(chunk)
            text = "".join(chunks)
            marked: list[_Marked] = []
            nonce = None
            command: tuple[str, int, int] | None = None  # line, time, where its output starts
            for match in _MARK.finditer(text):
                nonce = nonce or match[1]
                if match[1] != nonce:
                    continue
                if command is not None:
                    line, at, begin = command
                    marked.append(_Marked(line, at, slice(begin, match.start())))
                    command = None
                if match[2] == "C":
                    at = times[bisect.bisect_right(offsets, match.start()) - 1]
                    command = (match[3].replace("\r\n", "\n"), at, match.end())
            if command is not None:
                line, at, begin = command
                marked.append(_Marked(line, at, slice(begin, len(text))))
            self._marked[terminal_id] = (text, marked)
        return self._marked[terminal_id]
