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
from crowdcode_sdk.locations import FILE_MODE, open_private

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
QUIET_START_S = 0.25
"""How long the recorder's start waits for the first output before it counts the terminal as calm
and sets up (keys typed meanwhile make it set up at once)."""
SLICE = channel.READ_CHUNK
"""How much of the spool is handled between two looks at the pipe."""
FLOOD_PAUSE_S = 0.005
"""While a flood is deferred, the pipe is left to fill this long between two moves into the spool
(a third of the pipe at 70 MB/s): fewer, larger moves cost the page cache about half as much per
byte as one per burst, and wake the recorder a tenth as often (docs/benchmarks.md)."""


class SpoolFailed(OSError):
    """The spool could not be written or read (a full disk): the recording goes on without it."""


class Spool:
    """An append-only file of channel frames, and how far they have been handled."""

    def __init__(self, fd: int, path: Path | None) -> None:
        """The spool in the open file ``fd``, named ``path`` (or without a name yet: :meth:`unnamed`)."""
        self.path = path
        self._fd = fd
        self._end = 0  # bytes written
        self._done = 0  # bytes handled: always a frame boundary
        self._stuck_at = -1  # the end when only part of a frame was left to handle
        self._buffer = bytearray(SLICE)
        self._splice = hasattr(os, "splice")
        self._lock = threading.Lock()
        """A panic (on the session's control thread) rewrites frames in place: never while the
        file is being started again, or closed."""
        self._closed = False

    @classmethod
    def create(cls, path: Path) -> Spool:
        return cls(open_private(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC), path)

    @classmethod
    def unnamed(cls, directory: Path) -> Spool:
        """A spool in a file of ``directory``'s file system that has no name until :meth:`name`
        gives it one: the recorder takes frames from its first moment, before its session (and the
        session's directory) exists, and the frames of a recorder that dies before then go with it
        instead of being left where nothing could use them."""
        try:
            fd = os.open(directory, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, FILE_MODE)
            os.fchmod(fd, FILE_MODE)
        except OSError:  # a file system without O_TMPFILE: a file removed at once cannot be named
            path = directory / f".spool-{os.getpid()}-{os.urandom(4).hex()}"
            fd = open_private(path, os.O_RDWR | os.O_CREAT | os.O_EXCL)
            path.unlink()
        return cls(fd, None)

    def name(self, path: Path) -> None:
        """Give the spool its name in the session's directory, where :mod:`.abandoned` finds it if
        the recorder dies. Raises ``OSError`` (a spool that cannot be named stays without one)."""
        directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:  # linkat(2) following /proc's link to the file (os.link uses link(2) without a dir_fd)
            os.link(f"/proc/self/fd/{self._fd}", path.name, dst_dir_fd=directory, follow_symlinks=True)
        finally:
            os.close(directory)
        self.path = path

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
        Raises :class:`SpoolFailed` when the spool cannot be written."""
        try:
            n = self._move(fd)
        except OSError as exc:
            raise SpoolFailed(exc.errno, exc.strerror) from exc
        self._end += n
        return n

    def _move(self, fd: int) -> int:
        if self._splice:
            try:
                return os.splice(fd, self._fd, SLICE, offset_dst=self._end)
            except OSError as exc:
                if exc.errno not in (errno.EINVAL, errno.ENOSYS):  # a file system without splice
                    raise
                self._splice = False
        n = os.readv(fd, (self._buffer,))
        written = 0
        while written < n:
            written += os.pwrite(self._fd, memoryview(self._buffer)[written:n], self._end + written)
        return n

    def frames(self) -> list[Frame]:
        """The next whole frames (at most about a slice of them), now counted as handled. Raises
        :class:`SpoolFailed` when the spool cannot be read."""
        with self._lock:
            try:
                return self._frames()
            except OSError as exc:
                raise SpoolFailed(exc.errno, exc.strerror) from exc

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
        if self.path is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()


class Flood:
    """Whether output is arriving as a flood, since when, and when it last was."""

    def __init__(self, now: float, *, at_start: bool = False) -> None:
        """``at_start``: the recorder's own start is deferred like a flood's handling. The output
        counts as a flood until the first window of it has been measured; silence before the first
        output counts as calm only after :data:`QUIET_START_S` (a program takes a moment to write
        anything, and a flood often follows at once: ``cat`` of a large file)."""
        self._window_start = now
        self._window_bytes = 0
        self._since: float | None = now if at_start else None
        self._last = now
        """The end of the last window that flooded (the start counts as one: nothing is known
        yet of the output that follows)."""
        self._heard = not at_start
        self._quiet_until = now + QUIET_START_S

    def arrived(self, n: int, now: float) -> None:
        if not self._heard:  # the first window starts with the first output
            self._heard = True
            self._window_start = now
        self._window_bytes += n
        elapsed = now - self._window_start
        # A window that holds more than a flood's bytes already is one: no need to wait for its end
        flooding = self._window_bytes * WINDOW_S >= FLOOD_BYTES * max(elapsed, WINDOW_S)
        if flooding:
            self._since = self._since or now
            self._last = now
        if elapsed >= WINDOW_S:
            if not flooding:
                self._since = None
            self._window_start, self._window_bytes = now, 0

    def calm_for(self, now: float) -> float:
        """Seconds since the output last flooded (read from another thread: one float)."""
        return now - self._last

    def calm(self, now: float) -> None:
        """Nothing arrived for a whole window."""
        self._window_start, self._window_bytes = now, 0
        if self._heard or now >= self._quiet_until:
            self._since = None

    def defers(self, now: float) -> bool:
        return self._since is not None and now - self._since < MAX_DEFER_S


class Progress:
    """Whether every frame written to the channel so far has been handled, asked from another
    thread: attribution, deciding who changed a file, waits until this terminal's commands up to
    then are known (:mod:`crowdcode_sdk.attribution.evidence`).

    The pump counts its turns, odd while it works and even while it waits for the pipe. Nothing is
    left to handle when the pipe and the spool are empty while the pump waits, and it did not
    wake up meanwhile (the count is the same before and after the look). Reading the pipe
    directly (no spool), the pump cannot tell, and says so."""

    def __init__(self, fd: int, spool: Spool | None) -> None:
        self._fd = fd
        self._spool = spool
        self.turns = 1

    def drained(self) -> bool | None:
        """Whether nothing waits to be handled; ``None`` when the pump cannot tell."""
        turns, spool = self.turns, self._spool
        if spool is None:
            return None
        if turns % 2 or channel.unread(self._fd) or spool.pending:
            return False
        return self.turns == turns

    def direct(self) -> None:
        """The pump reads the pipe itself from now on."""
        self._spool = None


def pump(
    fd: int,
    spool: Spool | None,
    handle: Callable[[Frame], None],
    on_problem: Callable[[str], None],
    flood: Flood | None = None,
    *,
    prepare: Callable[[], None] = lambda: None,
    hurry: int | None = None,
    progress: Progress | None = None,
) -> None:
    """Every frame from the channel ``fd`` to ``handle``, in order, until the writer closes it;
    through ``spool`` (closed at the end), or directly when there is none or it fails. ``flood``
    follows the output's rate while it goes through the spool.

    ``prepare`` is called before the first frame is handled, and as soon as the output is not
    (or no longer) a deferred flood, even if no frame waits: the recorder sets itself up there, so
    that a flood at the start is not slowed by that either. Anything readable on ``hurry`` (the
    wrapper holds the user's keys until the recorder is set up) has it set up at once, the flood's
    handling still deferred."""
    prefix = b""
    progress = progress or Progress(fd, spool)
    if spool is not None:
        try:
            _through(fd, spool, handle, flood or Flood(time.monotonic()), prepare, hurry, progress)
            return
        except SpoolFailed as exc:  # if the spool cannot even be read, the recorder fails as a whole
            progress.direct()
            on_problem(f"the terminal's spool failed ({exc}); recording goes on without it")
            prepare()
            spool.drain(handle)
            prefix = spool.tail()
        finally:
            spool.close()
    prepare()
    for frame in channel.read_frames(fd, prefix):
        handle(frame)


def _through(
    fd: int,
    spool: Spool,
    handle: Callable[[Frame], None],
    flood: Flood,
    prepare: Callable[[], None],
    hurry: int | None,
    progress: Progress,
) -> None:
    while True:
        timeout: float | None = None
        deferring = flood.defers(time.monotonic()) and spool.backlog < MAX_DEFER_BYTES
        if deferring:
            timeout = WINDOW_S
        else:
            prepare()
            if spool.pending:
                for frame in spool.frames():
                    handle(frame)
                timeout = 0 if spool.pending else None
        progress.turns += 1
        readable = select.select([fd] if hurry is None else [fd, hurry], [], [], timeout)[0]
        progress.turns += 1
        if hurry in readable:
            with contextlib.suppress(OSError):
                os.read(hurry, 64)
            hurry = None  # once is enough: the keys wait for nothing else
            prepare()
        if fd not in readable:
            if timeout and not readable:  # a whole window without output
                flood.calm(time.monotonic())
            continue
        n = spool.take(fd)
        if not n:
            break
        flood.arrived(n, time.monotonic())
        if n < FLOOD_BYTES:  # let more gather: typing wakes the recorder at most 100 times a second
            time.sleep(WINDOW_S)
        elif deferring:
            time.sleep(FLOOD_PAUSE_S)
    prepare()
    spool.drain(handle)
