"""The durable journal: append-only JSON Lines segments, one writer per session directory.

A session directory holds ``events-NNNNNN.jsonl`` segments, a ``lock`` file that the writer holds
(``flock``) for as long as it lives, and ``session.json`` (see :mod:`crowdcode_sdk.store`).
Events are encoded by the caller and buffered; a background thread writes them every flush
interval (``fsync`` per the configured policy), so a ``kill -9`` loses at most that interval.
A crash mid-write leaves a torn final line, which readers skip and :func:`repair` removes once
the writer is gone.

Failing writes (a full disk) never reach the caller: events stay buffered up to a bound, the
rest are counted as lost, and the writer retries; the loss is reported through ``on_problem``
and as a ``recording_gap`` event once writing works again.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from .locations import open_private, private_dir

SEGMENT_PATTERN = re.compile(r"^events-(\d{6})\.jsonl$")
LOCK_NAME = "lock"
_EAGER_WRITE_BYTES = 1 << 20  # write before the interval ends once this much is buffered


def segment_name(index: int) -> str:
    return f"events-{index:06d}.jsonl"


def segments(directory: Path) -> list[Path]:
    """The session's segments in order."""
    try:
        names = [n for n in os.listdir(directory) if SEGMENT_PATTERN.match(n)]
    except FileNotFoundError:
        return []
    return [directory / n for n in sorted(names)]


@dataclass(frozen=True)
class JournalPolicy:
    fsync: str = "interval"  # "always" | "interval" | "never"
    flush_interval_ms: int = 500
    segment_max_bytes: int = 16 * 1024 * 1024
    segment_max_age_s: int = 600
    max_buffered_events: int = 200_000


class JournalWriter:
    """Appends encoded events to a session directory's segments; see the module docstring."""

    def __init__(
        self,
        directory: Path,
        policy: JournalPolicy = JournalPolicy(),
        on_problem: Callable[[str], None] | None = None,
    ) -> None:
        self.directory = private_dir(directory)
        self.policy = policy
        self._limit = policy.max_buffered_events
        self._always = policy.fsync == "always"
        self._on_problem = on_problem or (lambda message: None)
        self._lock_fd = open_private(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise RuntimeError(f"{directory} already has a writer") from None
        existing = segments(directory)
        last = SEGMENT_PATTERN.match(existing[-1].name) if existing else None
        self._index = int(last[1]) if last else 0
        self._fd = -1
        self._size = 0
        self._opened_at = 0.0
        self._buffer: list[bytes] = []
        self._buffer_bytes = 0
        self._pending_since = 0.0
        self._overdue_s = 2 * policy.flush_interval_ms / 1000
        self._writer_stuck = False
        self._lost = 0
        self._lost_reported = 0
        self._failing: str | None = None
        self._closed = False
        self._cond = threading.Condition(threading.Lock())
        self._io = threading.Lock()  # serialises file operations between flusher and panic
        self._thread = threading.Thread(target=self._run, name=f"crowdcode-journal-{directory.name}", daemon=True)
        self._thread.start()

    # --- producer side ---------------------------------------------------------------------------

    def append(self, line: bytes) -> None:
        """Queue one encoded event (no newline). Never raises for I/O problems."""
        limit = self._limit
        with self._cond:
            if self._closed:
                raise RuntimeError("journal is closed")
            if len(self._buffer) >= limit:
                if self._failing is None:
                    # Healthy but slow: wait for the writer rather than lose data.
                    while len(self._buffer) >= limit and self._failing is None:
                        self._cond.notify_all()
                        self._cond.wait(0.05)
                if len(self._buffer) >= limit:
                    self._lost += 1
                    return
            if not self._buffer:
                self._pending_since = time.monotonic()
                self._cond.notify_all()  # the writer sleeps while nothing is buffered: start its interval
            self._buffer.append(line)
            self._buffer_bytes += len(line) + 1
            if self._buffer_bytes >= _EAGER_WRITE_BYTES:
                self._cond.notify_all()
            overdue = time.monotonic() - self._pending_since > self._overdue_s and self._failing is None
        if self._always:
            self.flush()
        elif overdue and not self._writer_stuck:
            # The flush thread is starved: a producer that holds the GIL and does short I/O (a
            # print, a socket write) resets CPython's switch timer each time, so the flusher may
            # not run for seconds, even halfway through a write. Waiting for it here hands it the
            # GIL, and writing here keeps the promise that a kill -9 loses at most about one
            # flush interval. A flusher that does not finish in time is stuck on the disk, not
            # starved: the producer then never waits again until a write succeeds.
            if self._io.acquire(timeout=self._overdue_s):
                try:
                    self._write_pending_locked()
                finally:
                    self._io.release()
            else:
                self._writer_stuck = True

    def take_lost(self) -> int:
        """Events lost since the last call, once the journal is writable again (else 0)."""
        with self._cond:
            if self._failing is not None:
                return 0
            lost = self._lost - self._lost_reported
            self._lost_reported = self._lost
            return lost

    @property
    def problem(self) -> str | None:
        return self._failing

    @property
    def lost(self) -> int:
        return self._lost

    # --- writer side -----------------------------------------------------------------------------

    def _run(self) -> None:
        interval = self.policy.flush_interval_ms / 1000
        while True:
            with self._cond:
                while not self._closed and not self._buffer:
                    self._cond.wait()  # idle: no timer, so that an idle session costs nothing
                if not self._closed and self._buffer_bytes < _EAGER_WRITE_BYTES:
                    self._cond.wait(interval if self._failing is None else max(interval, 1.0))
                closing = self._closed
            self._write_pending()
            if closing:
                return

    def flush(self) -> None:
        """Write everything buffered so far (and fsync unless the policy is ``never``)."""
        self._write_pending()

    def _write_pending(self) -> None:
        with self._io:
            self._write_pending_locked()

    def _write_pending_locked(self) -> None:
        """Write what is buffered; the caller holds ``_io``."""
        with self._cond:
            batch, self._buffer = self._buffer, []
            self._buffer_bytes = 0
        if not batch:
            return
        try:
            self._write(batch)
        except _PartialWrite as exc:
            self._suspend(batch[exc.written :], exc.cause)
            return
        with self._cond:
            recovered = self._failing is not None
            self._failing = None
            self._writer_stuck = False
            self._cond.notify_all()
        if recovered:
            self._on_problem("recording resumed")

    def _suspend(self, unwritten: list[bytes], exc: OSError) -> None:
        with self._cond:
            # Keep what fits; the rest is lost and counted.
            room = self.policy.max_buffered_events - len(self._buffer)
            kept = unwritten[: max(room, 0)]
            self._lost += len(unwritten) - len(kept)
            self._buffer[:0] = kept
            self._buffer_bytes += sum(len(b) + 1 for b in kept)
            first = self._failing is None
            self._failing = _describe_os_error(exc)
            self._cond.notify_all()
        if first:
            self._on_problem(f"recording suspended: {self._failing}")

    def _write(self, lines: list[bytes]) -> int:
        """Write whole lines, rotating segments between them; returns how many were written.

        On failure, :class:`_PartialWrite` tells how many lines did reach the disk; a partly
        written line is cut off again so that no torn line is left mid-file.
        """
        done = 0
        while done < len(lines):
            self._ensure_segment(len(lines[done]) + 1)
            room = self.policy.segment_max_bytes - self._size
            chunk_end = done + 1
            size = len(lines[done]) + 1
            while chunk_end < len(lines) and size + len(lines[chunk_end]) + 1 <= room:
                size += len(lines[chunk_end]) + 1
                chunk_end += 1
            data = b"\n".join(lines[done:chunk_end]) + b"\n"
            try:
                self._write_all(data)
            except OSError as exc:
                raise _PartialWrite(done, exc) from exc
            done = chunk_end
        return done

    def _write_all(self, data: bytes) -> None:
        start = self._size
        view = memoryview(data)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
                self._size += written
            if self.policy.fsync != "never":
                os.fsync(self._fd)
        except OSError:
            try:
                os.ftruncate(self._fd, start)
                self._size = start
            except OSError:  # cannot cut the torn line: leave it as this segment's last line
                os.close(self._fd)
                self._fd = -1
            raise

    def _ensure_segment(self, incoming: int) -> None:
        if self._fd >= 0:
            too_big = self._size > 0 and self._size + incoming > self.policy.segment_max_bytes
            too_old = time.monotonic() - self._opened_at > self.policy.segment_max_age_s
            if not (too_big or too_old):
                return
            os.close(self._fd)
            self._fd = -1
        self._index += 1
        path = self.directory / segment_name(self._index)
        self._fd = open_private(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        self._size = os.fstat(self._fd).st_size
        self._opened_at = time.monotonic()

    # --- panic -----------------------------------------------------------------------------------

    def remove_since(self, cutoff_ms: int) -> int:
        """Remove every event whose timestamp is >= ``cutoff_ms`` from disk; return how many."""
        with self._io:
            with self._cond:
                batch, self._buffer = self._buffer, []
                self._buffer_bytes = 0
            kept = [line for line in batch if _timestamp(line) < cutoff_ms]
            removed = len(batch) - len(kept)
            if kept:
                try:
                    self._write(kept)
                except _PartialWrite as exc:
                    self._suspend(kept[exc.written :], exc.cause)
            removed += truncate_since(self.directory, cutoff_ms, keep=self.directory / segment_name(self._index))
            if self._fd >= 0:
                self._size = os.fstat(self._fd).st_size
            return removed

    def close(self, before_unlock: Callable[[], None] | None = None) -> None:
        """Write what is buffered and release the session's lock; ``before_unlock`` runs just
        before that, so that a reader never sees a session neither live nor ended (which it would
        take for a crash, and repair)."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        self._thread.join()
        with self._io:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
        try:
            if before_unlock is not None:
                before_unlock()
        finally:
            os.close(self._lock_fd)


class _PartialWrite(Exception):
    def __init__(self, written: int, cause: OSError) -> None:
        super().__init__(written, cause)
        self.written = written
        self.cause = cause


def _timestamp(line: bytes) -> int:
    try:
        return int(orjson.loads(line)["timestamp"])
    except (ValueError, KeyError, TypeError):
        return 0


def _describe_os_error(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    if exc.errno == errno.EDQUOT:
        return "the disk quota is exceeded"
    return exc.strerror or str(exc)


def truncate_since(directory: Path, cutoff_ms: int, keep: Path | None = None) -> int:
    """Cut every event with timestamp >= ``cutoff_ms`` from the segments; return how many.

    Timestamps never decrease within a session, so the removed events are a suffix: walk the
    segments newest first, delete whole ones, and truncate the one where the suffix starts.
    ``keep`` (the writer's open segment) is truncated to empty rather than deleted.
    """
    removed = 0
    for path in reversed(segments(directory)):
        data = path.read_bytes()
        offset = 0
        cut = None
        count = 0
        for line in data.splitlines(keepends=True):
            if cut is None and line.endswith(b"\n") and _timestamp(line) >= cutoff_ms:
                cut = offset
            if cut is not None:
                count += 1
            offset += len(line)
        if cut is None:
            break
        removed += count
        if cut == 0 and path != keep:
            path.unlink()
            continue
        with open(path, "r+b") as f:
            f.truncate(cut)
            f.flush()
            os.fsync(f.fileno())
        if cut > 0:
            break
    return removed


def is_live(directory: Path) -> bool:
    """Whether a writer (in any process, this one included) holds the session's lock."""
    try:
        fd = os.open(directory / LOCK_NAME, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def repair(directory: Path) -> int:
    """Drop a torn final line left by a crash; return the bytes removed. Only when no writer."""
    if is_live(directory):
        return 0
    paths = segments(directory)
    if not paths:
        return 0
    path = paths[-1]
    data = path.read_bytes()
    good = _complete_prefix(data)
    if good == len(data):
        return 0
    with open(path, "r+b") as f:
        f.truncate(good)
        os.fsync(f.fileno())
    return len(data) - good


def _complete_prefix(data: bytes) -> int:
    """Length of ``data`` up to and including its last complete, parseable line."""
    end = len(data)
    if not data.endswith(b"\n"):
        end = data.rfind(b"\n") + 1
    elif end:
        last_start = data.rfind(b"\n", 0, end - 1) + 1
        try:
            orjson.loads(data[last_start:end])
        except orjson.JSONDecodeError:
            end = last_start
    return end


def read_lines(directory: Path) -> Iterator[bytes]:
    """Every complete line of the session's segments, in order; a torn final line is skipped."""
    for path in segments(directory):
        yield from read_lines_of(path)


def decoded(lines: Iterable[bytes], damaged: Callable[[bytes], None] | None = None) -> Iterator[dict[str, Any]]:
    """The events of journal lines; a line that is not a JSON object with a sequence number (a
    disk error, a hand edit) is skipped, and given to ``damaged``, so that one bad line costs
    that line, not the session or every session after it."""
    for line in lines:
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            event = None
        if isinstance(event, dict) and isinstance(event.get("sequence"), int):
            yield event
        elif damaged is not None:
            damaged(line)


def read_lines_of(path: Path) -> Iterator[bytes]:
    """The complete lines of one segment (a torn final line, if any, is skipped)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:  # removed by a concurrent panic
        return
    data = data[: _complete_prefix(data)]
    for line in data.splitlines():
        if line:
            yield line
