"""The recorder's spool: the channel's bytes go to disk first and are handled when a flood ends.

On a 2-core machine a flood (``cat`` of a large file) keeps the child, the pass-through loop, the
user's terminal and the kernel's PTY workers busy, and every cycle the recorder spends competes
with them. Encoding the flood as asciicast, scanning it for marks and feeding the emulator while
it runs cost about a tenth of the wrapper's throughput (docs/benchmarks.md). So the recorder moves
the channel's bytes, frames as the loop wrote them, into a spool file with ``splice(2)`` — no
copy through Python, no parsing — and handles them later:

* at once while the output is calm (less than :data:`FLOOD_BYTES` in :data:`WINDOW_S`: typing, a
  prompt, a command's output), so nothing is held back;
* during a flood, once it has calmed down, or after :data:`MAX_DEFER_S` (or
  :data:`MAX_DEFER_BYTES`) at the latest — a longer flood is then handled as it comes, a slice at
  a time between reads of the pipe.

Frames carry the loop's clock, so handling them late changes no recorded time. What a flood defers
is the screen observations during it (the emulator is fed the end of the flood, as it would skip
the rest anyway) and the marks' events, by at most :data:`MAX_DEFER_S`.

If the spool cannot be written (a full disk), the bytes in it are handled and the rest of the
session is read from the pipe and handled directly, as before the spool existed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import threading
import time
from collections.abc import Callable
from pathlib import Path

from crowdcode_sdk import terminal_spools
from crowdcode_sdk.locations import open_private

from . import channel
from .channel import Frame

WINDOW_S = channel.TRICKLE_PAUSE_S
FLOOD_BYTES = channel.TRICKLE
"""More than this in :data:`WINDOW_S` (6.5 MB/s) is a flood."""
MAX_DEFER_S = 5.0
MAX_DEFER_BYTES = 256 << 20
"""A flood is handled after it ends, or once it has lasted :data:`MAX_DEFER_S` or this much of it
waits in the spool: the lag, the spool's size on disk and the wait for the recorder at the end
of the session stay bounded (handling 256 MiB takes about a second)."""
SLICE = channel.READ_CHUNK
"""How much of the spool is handled between two looks at the pipe."""


class Spool:
    """An append-only file of channel frames, and how far they have been handled."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = open_private(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC)
        self._end = 0  # bytes written
        self._done = 0  # bytes handled: always a frame boundary
        self._stuck_at = -1  # the end when only part of a frame was left to handle
        self._buffer = bytearray(SLICE)
        self._splice = hasattr(os, "splice")
        self._lock = threading.Lock()
        """A panic (on the session's control thread) rewrites frames in place: never while the
        file is being started again, or closed."""
        self._closed = False

    @property
    def backlog(self) -> int:
        """Bytes written and not yet handled."""
        return self._end - self._done

    @property
    def pending(self) -> bool:
        """Whether there are whole frames not yet handled."""
        return self._end > self._done and self._end != self._stuck_at

    def take(self, fd: int) -> int:
        """Move what the pipe holds (up to a slice) to the end of the spool; 0 at end of file.
        Raises ``OSError`` when the spool cannot be written."""
        if self._splice:
            try:
                n = os.splice(fd, self._fd, SLICE, offset_dst=self._end)
            except OSError as exc:
                if exc.errno not in (errno.EINVAL, errno.ENOSYS):  # a file system without splice
                    raise
                self._splice = False
                return self.take(fd)
        else:
            n = os.readv(fd, (self._buffer,))
            written = 0
            while written < n:
                written += os.pwrite(self._fd, memoryview(self._buffer)[written:n], self._end + written)
        self._end += n
        return n

    def frames(self) -> list[Frame]:
        """The next whole frames (at most about a slice of them), now counted as handled."""
        with self._lock:
            return self._frames()

    def _frames(self) -> list[Frame]:
        length = min(self._end - self._done, len(self._buffer))
        n = os.preadv(self._fd, (memoryview(self._buffer)[:length],), self._done)
        frames, used = channel.complete_frames(self._buffer, n)
        self._done += used
        self._stuck_at = -1
        if self._done == self._end:  # all handled: start the file again
            os.ftruncate(self._fd, 0)
            self._done = self._end = 0
        elif not used:
            if length == len(self._buffer):  # one frame larger than the buffer
                self._buffer.extend(bytes(len(self._buffer)))
            else:  # the rest of this frame is still in the pipe
                self._stuck_at = self._end
        return frames

    def drain(self, handle: Callable[[Frame], None]) -> None:
        """Handle every whole frame left."""
        while self.pending:
            for frame in self.frames():
                handle(frame)

    def tail(self) -> bytes:
        """The bytes after the last whole frame (a frame the pipe has the rest of)."""
        return os.pread(self._fd, self._end - self._done, self._done)

    def remove_since(self, cutoff_s: float) -> int:
        """Panic: overwrite the output and input frames stamped at or after ``cutoff_s`` that the
        file still holds, handled or not (the recorder skips them when their turn comes)."""
        with self._lock:
            if self._closed:
                return 0
            return terminal_spools.remove_since(self._fd, self._end, cutoff_s)

    def close(self) -> None:
        with self._lock:
            self._closed = True
        with contextlib.suppress(OSError):
            os.close(self._fd)
        with contextlib.suppress(OSError):
            self.path.unlink()


class Flood:
    """Whether output is arriving as a flood, since when, and when it last was."""

    def __init__(self, now: float) -> None:
        self._window_start = now
        self._window_bytes = 0
        self._since: float | None = None
        self._last = now
        """The end of the last window that flooded (the start counts as one: nothing is known
        yet of the output that follows)."""

    def arrived(self, n: int, now: float) -> None:
        self._window_bytes += n
        if now - self._window_start >= WINDOW_S:
            flooding = self._window_bytes * WINDOW_S >= FLOOD_BYTES * (now - self._window_start)
            self._since = (self._since or now) if flooding else None
            if flooding:
                self._last = now
            self._window_start, self._window_bytes = now, 0

    def calm_for(self, now: float) -> float:
        """Seconds since the output last flooded (read from another thread: one float)."""
        return now - self._last

    def calm(self, now: float) -> None:
        """Nothing arrived for a whole window."""
        self._since = None
        self._window_start, self._window_bytes = now, 0

    def defers(self, now: float) -> bool:
        return self._since is not None and now - self._since < MAX_DEFER_S


def pump(
    fd: int,
    spool: Spool | None,
    handle: Callable[[Frame], None],
    on_problem: Callable[[str], None],
    flood: Flood | None = None,
) -> None:
    """Every frame from the channel ``fd`` to ``handle``, in order, until the writer closes it;
    through ``spool`` (closed at the end), or directly when there is none or it fails. ``flood``
    follows the output's rate while it goes through the spool."""
    prefix = b""
    if spool is not None:
        try:
            _through(fd, spool, handle, flood or Flood(time.monotonic()))
            return
        except OSError as exc:  # if the spool cannot even be read, the recorder fails as a whole
            on_problem(f"the terminal's spool failed ({exc}); recording goes on without it")
            spool.drain(handle)
            prefix = spool.tail()
        finally:
            spool.close()
    for frame in channel.read_frames(fd, prefix):
        handle(frame)


def _through(fd: int, spool: Spool, handle: Callable[[Frame], None], flood: Flood) -> None:
    while True:
        timeout: float | None = None
        if spool.pending:
            if flood.defers(time.monotonic()) and spool.backlog < MAX_DEFER_BYTES:
                timeout = WINDOW_S
            else:
                for frame in spool.frames():
                    handle(frame)
                timeout = 0 if spool.pending else None
        if not select.select([fd], [], [], timeout)[0]:
            if timeout:  # a whole window without output
                flood.calm(time.monotonic())
            continue
        n = spool.take(fd)
        if not n:
            break
        flood.arrived(n, time.monotonic())
        if n < FLOOD_BYTES:  # let more gather: typing wakes the recorder at most 100 times a second
            time.sleep(WINDOW_S)
    spool.drain(handle)
