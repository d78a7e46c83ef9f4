"""Finding the shell-integration marks (see :mod:`.integration`) in the output stream.

The scan is a ``bytes.find`` per chunk, cheap enough for the recorder's lossless path; a mark
split between two reads is completed from the next one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PREFIX = b"\x1b]6973;"
_MAX_MARK = 64 * 1024  # a longer "mark" is not one: stop waiting for its end
_HISTORY_NUMBER = re.compile(r"^\s*(\d+)\*?\s+")


@dataclass(frozen=True)
class Mark:
    kind: str  # "A" prompt, "P" directory, "C" command start, "D" command end
    payload: str
    at: float


class MarkScanner:
    def __init__(self, nonce: str) -> None:
        self._head = PREFIX + nonce.encode() + b";"
        self._tail = b""

    def feed(self, data: bytes, at: float) -> list[Mark]:
        if self._tail:
            data = self._tail + data
            self._tail = b""
        elif b"\x1b" not in data:
            return []
        marks: list[Mark] = []
        pos = 0
        while True:
            start = data.find(PREFIX, pos)
            if start < 0:
                # keep a prefix cut off at the end of the chunk
                for keep in range(min(len(PREFIX) - 1, len(data)), 0, -1):
                    if PREFIX.startswith(data[-keep:]):
                        self._tail = data[-keep:]
                        break
                return marks
            end = _terminator(data, start)
            if end is None:
                if len(data) - start < _MAX_MARK:
                    self._tail = data[start:]
                return marks
            body, pos = data[start : end[0]], end[1]
            if body.startswith(self._head):
                kind, _, payload = body[len(self._head) :].decode("utf-8", "replace").partition(";")
                marks.append(Mark(kind, payload, at))


def _terminator(data: bytes, start: int) -> tuple[int, int] | None:
    """(end of the body, end of the sequence) for the OSC at ``start``: BEL or ESC \\."""
    bel = data.find(b"\x07", start)
    st = data.find(b"\x1b\\", start + 1)
    if bel < 0 and st < 0:
        return None
    if st < 0 or (0 <= bel < st):
        return bel, bel + 1
    return st, st + 2


def history_entry(payload: str) -> tuple[int | None, str]:
    """bash's command mark carries ``history 1`` output: (history number, command line)."""
    match = _HISTORY_NUMBER.match(payload)
    text = payload[match.end() :] if match else payload
    return (int(match[1]) if match else None), command_text(text)


def command_text(payload: str) -> str:
    """A command line as the shell printed it through the terminal (which turned \\n into \\r\\n)."""
    return payload.replace("\r\n", "\n").rstrip("\n")
