"""The pipe from the pass-through loop to the recorder process.

Frames are ``kind (1 byte) | length (4) | monotonic time (8) | payload``
(:mod:`crowdcode_sdk.terminal_spools`, where a panic reaches them in a spool). The writer never
blocks: it writes what the pipe takes and keeps the rest in a buffer that the loop drains when
the pipe is writable. The recording is lossless as long as the recorder makes progress: when the
buffer is full, the pass-through loop stops reading the program's output (:meth:`ChannelWriter.holds`)
and the kernel pauses the program, as ``script(1)`` is paused by a slow disk. Only a recorder that
has taken nothing for :data:`STALL_S` (stopped, starved or stuck) has output and input dropped
rather than hold the user's terminal: they are counted, and a ``GAP`` frame tells the recorder how
much is missing: once it takes bytes again, before the next resize or exit (those few bytes are
never dropped: the recorder needs the size and the status), and at the latest when the channel
closes.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import sys
import termios
import time
from collections.abc import Iterator, Sequence
from typing import NamedTuple

from crowdcode_sdk.terminal_spools import FRAME_HEADER as _HEADER
from crowdcode_sdk.terminal_spools import INPUT as INPUT
from crowdcode_sdk.terminal_spools import OUTPUT as OUTPUT

RESIZE = b"r"
GAP = b"g"
EXIT = b"x"
START = b"c"
"""Where the cursor was on the user's terminal when the wrapper started (:mod:`.start_position`)."""

_PIPE_SIZE = 1 << 20  # Linux's default pipe-max-size for unprivileged users
DEFAULT_MAX_BUFFER = 64 << 20
STALL_S = 5.0
"""How long a recorder may take nothing from a full channel before output is dropped rather than
held: long enough for a recorder that imports its modules on a loaded machine, short enough that a
stuck one costs the user a pause, never their terminal."""


class Frame(NamedTuple):  # not a dataclass: the wrapper imports this module (docs/shell.md, "Start-up")
    kind: bytes
    time: float
    data: bytes


def pipe() -> tuple[int, int]:
    """A pipe for the channel, as large as the kernel allows, write end non-blocking."""
    r, w = os.pipe()
    for fd in (r, w):
        try:
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
            break
        except (OSError, AttributeError):
            continue
    os.set_blocking(w, False)
    return r, w


def unread(fd: int) -> int:
    """How many bytes wait to be read on ``fd`` (a pipe or a PTY), 0 if it cannot tell (closed)."""
    try:
        return int.from_bytes(fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"), sys.byteorder)
    except OSError:
        return 0


class ChannelWriter:
    """The pass-through side. ``send`` costs one non-blocking write at most."""

    def __init__(self, fd: int, max_buffer: int = DEFAULT_MAX_BUFFER, stall_s: float = STALL_S) -> None:
        self.fd = fd
        self._buffer = bytearray()
        self._max_buffer = max_buffer
        self._stall_s = stall_s
        self._progress_at = 0.0  # when the recorder last took bytes, or began to owe some
        self._dropped_bytes = 0
        self.dropped_total = 0
        self.broken = False

    @property
    def pending(self) -> bool:
        return bool(self._buffer) and not self.broken

    def stalled_at(self) -> float:
        """When the recorder counts as stalled if it takes nothing until then (monotonic)."""
        return self._progress_at + self._stall_s

    def _stalled(self) -> bool:
        """The recorder owes bytes and has taken none for :data:`STALL_S`."""
        return bool(self._buffer) and time.monotonic() >= self.stalled_at()

    def holds(self, size: int) -> bool:
        """Whether the loop should wait before passing on ``size`` more bytes of output: the buffer
        is full and the recorder is making progress. A broken channel drops everything, and a
        stalled recorder has output dropped: waiting would not help, or would hang the user."""
        full = len(self._buffer) + size > self._max_buffer
        return full and not self.broken and not self._stalled()

    def send(self, kind: bytes, data: bytes | memoryview = b"") -> None:
        self.send_parts(kind, (data,))

    def send_parts(self, kind: bytes, parts: Sequence[bytes | memoryview]) -> None:
        """One frame whose payload is ``parts`` one after the other, written with one ``writev``
        rather than joined first (the pass-through loop's reads of one burst)."""
        size = sum(map(len, parts))
        if self.broken:
            self.dropped_total += size
            return
        full = len(self._buffer) + size > self._max_buffer
        if kind in (OUTPUT, INPUT) and self._stalled() and (full or self._dropped_bytes):
            self._dropped_bytes += size
            self.dropped_total += size
            return
        if self._dropped_bytes:
            self._note_gap()
        header = _HEADER.pack(kind, size, time.monotonic())
        if self._buffer:
            self._keep(header, parts, 0)
            self.flush()
            return
        try:  # the common case: straight into the pipe, no copy
            written = os.writev(self.fd, (header, *parts))
        except BlockingIOError:
            written = 0
        except OSError:
            self._keep(header, parts, 0)
            self.flush()  # records the failure
            return
        if written < len(header) + size:
            self._keep(header, parts, written)

    def _keep(self, header: bytes, parts: Sequence[bytes | memoryview], skip: int) -> None:
        """Buffer the frame ``header`` + ``parts`` but for its first ``skip`` bytes."""
        if not self._buffer:
            self._progress_at = time.monotonic()
        for part in (header, *parts):
            if skip >= len(part):
                skip -= len(part)
                continue
            self._buffer += memoryview(part)[skip:]
            skip = 0

    def _note_gap(self) -> None:
        lost, self._dropped_bytes = self._dropped_bytes, 0
        self._keep(_HEADER.pack(GAP, 8, time.monotonic()), (lost.to_bytes(8, "little"),), 0)

    def flush(self) -> None:
        """Write as much of the buffer as the pipe takes now."""
        while self._buffer and not self.broken:
            try:
                n = os.write(self.fd, self._buffer)
            except BlockingIOError:
                return
            except OSError as exc:  # the recorder died: recording is over, the session goes on
                if exc.errno != errno.EINTR:
                    self.broken = True
                    self.dropped_total += len(self._buffer)
                    self._buffer.clear()
                return
            del self._buffer[:n]
            self._progress_at = time.monotonic()

    def close(self) -> None:
        """Hand the rest to the recorder for as long as it takes it, then close the pipe: only
        what a recorder that takes nothing for :data:`STALL_S` still owes is lost (and counted)."""
        if self._dropped_bytes and not self.broken:
            self._note_gap()
        self.flush()
        while self.pending and not self._stalled():
            select.select([], [self.fd], [], max(0.0, self.stalled_at() - time.monotonic()))
            self.flush()
        if self.pending:
            self.dropped_total += len(self._buffer)
        os.close(self.fd)


TRICKLE = 64 * 1024
READ_CHUNK = 1 << 20
TRICKLE_PAUSE_S = 0.01


def read_frames(fd: int, prefix: bytes = b"") -> Iterator[Frame]:
    """The recorder side: frames until the writer closes the pipe (``prefix``: the start of the
    stream, read from it already).

    After a small read (typing, a prompt) the reader waits 10 ms before the next, so that typing
    wakes the recorder at most 100 times a second instead of twice per key: on a busy machine,
    every wake-up of the recorder is a chance to delay the pass-through loop (measured: echo
    latency p99 3.4-4.5 ms without the pause, 1.4-2.3 ms with it, on a loaded 2-core machine). A
    flood is read without pause, into one reused buffer: allocating a fresh megabyte per read
    cost the recorder more than parsing it.
    """
    buffer = bytearray(max(READ_CHUNK, 2 * len(prefix)))
    buffer[: len(prefix)] = prefix
    filled = len(prefix)
    small_read = False
    while True:
        frames, used = complete_frames(buffer, filled)
        buffer[: filled - used] = buffer[used:filled]
        filled -= used
        yield from frames
        if small_read:
            time.sleep(TRICKLE_PAUSE_S)
        if filled == len(buffer):  # one frame larger than the buffer
            buffer.extend(bytes(len(buffer)))
        n = os.readv(fd, (memoryview(buffer)[filled:],))
        if not n:
            return
        filled += n
        small_read = n < TRICKLE


MERGE_S = 0.005
"""Output frames closer together than this become one frame: a flood arrives as thousands of
4 KiB reads a second, and the recorder's cost is per frame, not per byte."""


def complete_frames(buffer: bytearray, end_of_data: int) -> tuple[list[Frame], int]:
    """The whole frames at the start of ``buffer[:end_of_data]``, consecutive output merged, and
    their length."""
    frames: list[Frame] = []
    output: list[memoryview] = []
    output_time = 0.0
    start = 0
    view = memoryview(buffer)
    while end_of_data - start >= _HEADER.size:
        kind, length, stamp = _HEADER.unpack_from(buffer, start)
        end = start + _HEADER.size + length
        if end > end_of_data:
            break
        data = view[start + _HEADER.size : end]
        start = end
        if kind == OUTPUT and output and stamp - output_time < MERGE_S:
            output.append(data)
            continue
        if output:
            frames.append(Frame(OUTPUT, output_time, b"".join(output)))
            output = []
        if kind == OUTPUT:
            output, output_time = [data], stamp
        else:
            frames.append(Frame(kind, stamp, data.tobytes()))
    if output:
        frames.append(Frame(OUTPUT, output_time, b"".join(output)))
    return frames, start
