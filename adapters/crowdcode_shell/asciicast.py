"""The raw terminal stream as asciicast v2 (``<session>/terminals/<terminal_id>.cast``).

asciicast carries output as JSON text, so a chunk that is not valid UTF-8 (binary output, a
program writing Latin-1) cannot be stored exactly in an ``"o"`` event. Such a chunk is written as
an ``"o"`` event with U+FFFD replacements, which players show as the terminal would, followed by a
``"b"`` event with the exact bytes in base64, which players ignore (readers skip unknown codes)
and :func:`read_output` uses: the file is both playable and lossless. A UTF-8 sequence split
between two reads is carried over to the next event rather than counted as invalid. The exit
status is an ``"x"`` event (asciicast v3's code).
"""

from __future__ import annotations

import base64
import contextlib
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from crowdcode_sdk.locations import open_private
from crowdcode_sdk.terminal_casts import truncate_since


def _complete_prefix(data: bytes) -> int:
    """Length of ``data`` without a trailing incomplete UTF-8 sequence."""
    n = len(data)
    for back in range(1, min(4, n) + 1):
        byte = data[n - back]
        if byte & 0xC0 == 0x80:  # continuation byte: look further back for the lead
            continue
        if byte < 0x80:
            return n
        need = 2 if byte & 0xE0 == 0xC0 else 3 if byte & 0xF0 == 0xE0 else 4 if byte & 0xF8 == 0xF0 else 1
        return n - back if need > back else n
    return n


class _Decoder:
    def __init__(self) -> None:
        self._carry = b""

    def decode(self, data: bytes, final: bool = False) -> tuple[str, bytes | None]:
        """(text, exact bytes if the text does not hold them)."""
        data = self._carry + data
        cut = len(data) if final else _complete_prefix(data)
        data, self._carry = data[:cut], data[cut:]
        try:
            return data.decode("utf-8"), None
        except UnicodeDecodeError:
            return data.decode("utf-8", errors="replace"), data


@dataclass
class CastHeader:
    cols: int
    rows: int
    timestamp_ms: int
    command: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    start_monotonic: float | None = None
    """The wrapper's monotonic clock at time 0: the channel's frames carry that clock, so a spool
    left by a recorder that died can be added to its cast later (:mod:`.abandoned`)."""

    def to_v2(self) -> dict[str, Any]:
        header: dict[str, Any] = {
            "version": 2,
            "width": self.cols,
            "height": self.rows,
            "timestamp": self.timestamp_ms // 1000,
        }
        if self.command:
            header["command"] = self.command
        if self.env:
            header["env"] = self.env
        header["crowdcode"] = {"timestampMs": self.timestamp_ms}
        if self.start_monotonic is not None:
            header["crowdcode"]["monotonic"] = self.start_monotonic
        return header

    @classmethod
    def from_v2(cls, data: dict[str, Any]) -> CastHeader:
        ours = data.get("crowdcode") or {}
        ms = ours.get("timestampMs") or int(data.get("timestamp", 0)) * 1000
        return cls(
            int(data["width"]),
            int(data["height"]),
            ms,
            data.get("command"),
            data.get("env") or {},
            ours.get("monotonic"),
        )


class CastWriter:
    """Appends events; a failing disk is reported, never raised, and survived.

    Events are buffered here and written whole: when a write fails (a full disk), the file is cut
    back to its last complete event, so it never holds a torn line; the events are counted as lost
    and dropped. Writing is tried again at the next flush; once it works, a marker event says how
    many bytes are missing there, and ``on_gap`` is told so that the journal has a
    ``recording_gap`` too."""

    BUFFER = 1 << 16

    def __init__(
        self,
        path: Path,
        header: CastHeader,
        start_monotonic: float,
        *,
        append: bool = False,
        on_gap: Callable[[int], None] = lambda lost: None,
    ) -> None:
        """A new cast, or with ``append`` more events at the end of an existing one (whose
        header is ``header``)."""
        self.path = path
        self.header = header
        self._start = start_monotonic
        self._decoders = {"o": _Decoder(), "i": _Decoder()}
        self._on_gap = on_gap
        self.error: OSError | None = None
        self.lost_bytes = 0
        self._missing = 0  # lost since the last successful write: the next marker's count
        self._last_t = 0.0
        self._fd: int | None = None
        self._pending = bytearray()
        self._size = 0  # bytes of whole events in the file
        self._lock = threading.Lock()  # the panic hook runs on the session's control thread
        try:
            if append:
                self._fd = open_private(path, os.O_WRONLY | os.O_APPEND)
                self._size = os.fstat(self._fd).st_size
                return
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._fd = open_private(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND)
        except OSError as exc:
            self.error = exc
            return
        # Written at once, not with the first events: a recorder killed before its first flush
        # leaves a cast that a spool's recovery, export and play can still read.
        self._write(orjson.dumps(header.to_v2()) + b"\n")
        self.flush()

    def output(self, at: float, data: bytes) -> None:
        self._data(at, "o", data)

    def input(self, at: float, data: bytes) -> None:
        self._data(at, "i", data)

    def resize(self, at: float, cols: int, rows: int) -> None:
        self._event(at, "r", f"{cols}x{rows}")

    def marker(self, at: float, label: str) -> None:
        self._event(at, "m", label)

    def exit(self, at: float, status: int) -> None:
        for code, decoder in self._decoders.items():
            text, exact = decoder.decode(b"", final=True)
            if text:
                self._event(at, code, text, exact)
        self._event(at, "x", str(status))

    def _data(self, at: float, code: str, data: bytes) -> None:
        text, exact = self._decoders[code].decode(data)
        if text:
            self._event(at, code, text, exact)

    def _event(self, at: float, code: str, text: str, exact: bytes | None = None) -> None:
        t = round(at - self._start, 6)
        self._last_t = t
        line = orjson.dumps([t, code, text], option=orjson.OPT_APPEND_NEWLINE)
        if exact is not None:
            line += orjson.dumps([t, "b", base64.b64encode(exact).decode()], option=orjson.OPT_APPEND_NEWLINE)
        self._write(line)

    def _write(self, line: bytes) -> None:
        with self._lock:
            if self._fd is None:
                self.lost_bytes += len(line)
                return
            self._pending += line
            resumed = self._flush() if len(self._pending) >= self.BUFFER else 0
        if resumed:  # outside the lock: the journal has locks of its own (a panic takes them first)
            self._on_gap(resumed)

    def flush(self) -> None:
        with self._lock:
            resumed = self._flush()
        if resumed:
            self._on_gap(resumed)

    def _flush(self) -> int:
        """Write what is pending; the bytes of a gap that this write ended, else 0."""
        if self._fd is None or not self._pending:
            return 0
        gap = b""
        if self._missing:
            label = f"crowdcode: {self._missing} bytes not recorded (disk full)"
            gap = orjson.dumps([self._last_t, "m", label], option=orjson.OPT_APPEND_NEWLINE)
        data, self._pending = gap + self._pending, bytearray()
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            self.error = exc
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)  # no torn event; frees what the part took
            lost = len(data) - len(gap)
            self.lost_bytes += lost
            self._missing += lost
            return 0
        self._size += len(data)
        missing, self._missing = self._missing, 0
        return missing

    def truncate_since(self, cutoff_ms: int) -> None:
        """Panic: drop every event at or after ``cutoff_ms`` (epoch) from the file."""
        with self._lock:
            self._flush()  # a gap it ends is in the part that the panic removes
            if self._fd is None:
                return
            truncate_since(self.path, cutoff_ms)  # replaces the file: write on in the new one
            os.close(self._fd)
            self._fd = open_private(self.path, os.O_WRONLY | os.O_APPEND)
            self._size = os.fstat(self._fd).st_size

    def close(self) -> None:
        with self._lock:
            resumed = self._flush()
            if self._fd is not None:
                with contextlib.suppress(OSError):
                    os.close(self._fd)
                self._fd = None
        if resumed:
            self._on_gap(resumed)


def read_cast(path: Path) -> tuple[CastHeader, list[list[Any]]]:
    """Header and events; a torn last line (a crash mid-write) is skipped."""
    with open(path, "rb") as f:
        return parse_cast(f)


def parse_cast(lines: Iterable[bytes]) -> tuple[CastHeader, list[list[Any]]]:
    """:func:`read_cast` of a cast's lines (a file, or a redacted copy in memory)."""
    lines = iter(lines)
    header = CastHeader.from_v2(orjson.loads(next(lines)))
    events = []
    for line in lines:
        with contextlib.suppress(orjson.JSONDecodeError):
            events.append(orjson.loads(line))
    return header, events


def read_output(path: Path) -> Iterator[tuple[float, bytes]]:
    """The exact output bytes with their times (the ``"b"`` events replace their ``"o"``)."""
    _, events = read_cast(path)
    pending: tuple[float, bytes] | None = None
    for at, code, data in events:
        if code == "b" and pending is not None:
            pending = (pending[0], base64.b64decode(data))
        elif code == "o":
            if pending is not None:
                yield pending
            pending = (at, data.encode())
    if pending is not None:
        yield pending


def to_v2(header: CastHeader, events: list[list[Any]]) -> Iterator[bytes]:
    """A plain asciicast v2 file: header, then the o/i/r/m events players know."""
    yield orjson.dumps({k: v for k, v in header.to_v2().items() if k != "crowdcode"})
    for event in events:
        if event[1] in ("o", "i", "r", "m"):
            yield orjson.dumps(event)


def to_v3(header: CastHeader, events: list[list[Any]]) -> Iterator[bytes]:
    """asciicast v3: times are intervals since the previous event, rounded to ms with the
    rounding error carried forward so that the total stays exact."""
    v3: dict[str, Any] = {"version": 3, "term": {"cols": header.cols, "rows": header.rows}}
    if "TERM" in header.env:
        v3["term"]["type"] = header.env["TERM"]
    v3["timestamp"] = header.timestamp_ms // 1000
    if header.command:
        v3["command"] = header.command
    if header.env:
        v3["env"] = header.env
    yield orjson.dumps(v3)
    previous = 0.0  # absolute time already emitted (sum of rounded intervals)
    for at, code, data in events:
        if code not in ("o", "i", "r", "m", "x"):
            continue
        interval = max(0.0, round(at - previous, 3))
        previous += interval
        yield orjson.dumps([interval, code, data])
