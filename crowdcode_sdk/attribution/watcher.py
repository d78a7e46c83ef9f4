"""The filesystem side: a watchdog observer over the workspace roots and their git directories,
and the inbox that coalesces its events per file until they can be decided.

The watchdog handler runs on the observer's thread and does only cheap work: drop ignored paths
(their contents are never read), route git-directory events to git activity, stamp each file
event with its arrival time and the git operation in progress, and wake the engine's worker.
Several events for one file coalesce into one entry; the worker reads the file's *final* state
when it decides, so nothing is lost however many writes happened.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirModifiedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileClosedNoWriteEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileOpenedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
    FileSystemMovedEvent,
)
from watchdog.observers import Observer
from watchdog.observers.api import ObservedWatch

from ..ignore import FileContent
from .baselines import Baseline
from .coverage import LeaveOut, plan, subdirectories
from .git import Operation

WATCHED_EVENTS: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileClosedEvent,
    FileDeletedEvent,
    FileMovedEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
]
"""Only writes: the kernel then does not report opens and reads (our own reads of every changed
file would double the events of a long checkout)."""


Stamp = tuple[int, int]
"""A file's (modification time ns, size): a write changes it (a stat, no read)."""

ABSENT_STAMP: Stamp = (0, -1)


def stamp_of(path: Path) -> Stamp:
    """The file's :data:`Stamp`, :data:`ABSENT_STAMP` when there is none."""
    try:
        status = os.stat(path)
    except OSError:
        return ABSENT_STAMP
    return status.st_mtime_ns, status.st_size


@dataclass
class Prepared:
    """Work done on a file while its verdict waits (a long git operation): its content as read
    after the event at ``last`` (the file's ``stamp`` just before), and the diff from its old
    baseline."""

    last: int
    stamp: Stamp
    content: FileContent
    new: Baseline
    old_sha: str | None
    old_text: str | None
    diff: str | None


@dataclass
class Pending:
    """A file with unprocessed events: seen from ``first`` to ``last`` (epoch ms)."""

    path: Path
    first: int
    last: int
    operation: Operation | None = None
    not_before: int = 0
    deferred: bool = False
    prepared: Prepared | None = None

    def fresh(self) -> Prepared | None:
        """The prepared work if no event came after it."""
        return self.prepared if self.prepared is not None and self.prepared.last == self.last else None

    def recheck(self, *, final: bool) -> None:
        """Before a verdict: forget prepared work the file has moved on from. The watcher reports
        a write a moment after it (later still on a loaded machine), so no event need have come
        yet for a file written again since it was read; and once the watcher has stopped (the
        final verdicts), none will: the file is read afresh then, whatever it was prepared from."""
        if self.prepared is not None and (final or stamp_of(self.path) != self.prepared.stamp):
            self.prepared = None


class Inbox:
    """What the engine's worker consumes: file events waiting to be decided, one entry per path,
    in order of first arrival, and messages from the rest of the process (an editor's question
    from the workspace's owner, a panic, a snapshot request), in the order they were posted.

    Everything that wants the engine to act posts here and the one worker acts: the watchdog
    thread, the session's control thread and its panic never run engine code themselves."""

    def __init__(self) -> None:
        self._pending: dict[Path, Pending] = {}
        self._deciding: set[Path] = set()
        """Files taken for a decision not finished yet (:meth:`done`): still undecided."""
        self._messages: list[object] = []
        self._cond = threading.Condition()
        self._busy = False
        self._serving = False

    def post(self, message: object) -> None:
        """Queue a message for the worker and wake it."""
        with self._cond:
            self._messages.append(message)
            self._cond.notify_all()

    def messages(self, kind: type | None = None) -> list[object]:
        """Remove and return the queued messages (only those of type ``kind``, if given); the
        inbox is not idle until :meth:`served`."""
        with self._cond:
            taken = [m for m in self._messages if kind is None or isinstance(m, kind)]
            self._messages = [m for m in self._messages if kind is not None and not isinstance(m, kind)]
            self._serving = self._serving or bool(taken)
            return taken

    def served(self) -> None:
        with self._cond:
            self._serving = False
            self._cond.notify_all()

    def add(self, path: Path, now: int, operation: Operation | None) -> None:
        with self._cond:
            entry = self._pending.get(path)
            if entry is None:
                self._pending[path] = Pending(path, now, now, operation)
            else:
                entry.last = now
                entry.operation = entry.operation or operation
            self._cond.notify_all()

    def waiting(self, path: Path) -> bool:
        """Whether a change of ``path`` is queued or being decided."""
        with self._cond:
            return path in self._pending or path in self._deciding

    def touch(self, path: Path, now: int) -> bool:
        """Another event for a waiting file: move its last-seen time; ``False`` if not waiting."""
        with self._cond:
            entry = self._pending.get(path)
            if entry is None:
                return False
            entry.last = now
            return True

    def put_back(self, entry: Pending) -> None:
        with self._cond:
            current = self._pending.get(entry.path)
            if current is None:
                self._pending[entry.path] = entry
            else:
                current.first = min(current.first, entry.first)
                current.deferred = current.deferred or entry.deferred
                current.not_before = max(current.not_before, entry.not_before)
            self._cond.notify_all()

    def wait(self, timeout: float | None) -> None:
        """Sleep until woken or ``timeout``; not at all while a message waits."""
        with self._cond:
            if self._messages:
                return
            if not self._pending:
                self._cond.wait(timeout)
            else:
                self._cond.wait(min(timeout or 0.05, 0.05))

    def take(self, ready: Callable[[Pending], bool]) -> list[Pending]:
        """Remove and return the entries ``ready`` accepts, oldest first; marks the inbox busy
        until :meth:`done`."""
        with self._cond:
            taken = [e for e in self._pending.values() if ready(e)]
            for entry in taken:
                del self._pending[entry.path]
            if taken:
                self._busy = True
                self._deciding = {entry.path for entry in taken}
            return sorted(taken, key=lambda e: e.first)

    def preparable(self, now: int, quiet_ms: int, limit: int) -> list[Pending]:
        """Entries still waiting, quiet for ``quiet_ms``, whose preparation is missing or stale."""
        with self._cond:
            found = []
            for entry in self._pending.values():
                if entry.fresh() is None and now - entry.last >= quiet_ms:
                    found.append(entry)
                    if len(found) >= limit:
                        break
            return found

    def decided(self, path: Path) -> None:
        """The worker is done with ``path`` (decided, or put back to wait)."""
        with self._cond:
            self._deciding.discard(path)

    def done(self) -> None:
        with self._cond:
            self._busy = False
            self._deciding = set()
            self._cond.notify_all()

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def idle(self, timeout: float) -> bool:
        """Wait until nothing is pending or being processed."""
        with self._cond:
            return self._cond.wait_for(
                lambda: not self._pending and not self._busy and not self._messages and not self._serving, timeout
            )

    def __len__(self) -> int:
        with self._cond:
            return len(self._pending)


OnPath = Callable[[Path, bool, bool], None]
"""``on_path(path, is_dir, gone)``: ``gone`` when the event removed the path (delete, move away)."""


class _Handler(FileSystemEventHandler):
    def __init__(self, on_path: OnPath) -> None:
        self._on_path = on_path

    def on_any_event(self, event: FileSystemEvent) -> None:
        if isinstance(event, FileOpenedEvent | FileClosedNoWriteEvent | DirModifiedEvent):
            return  # reads (ours included) change nothing; a directory's entries report themselves
        is_dir = event.is_directory or isinstance(event, DirMovedEvent)
        moved = isinstance(event, FileSystemMovedEvent)
        self._on_path(_path(event.src_path), is_dir, moved or event.event_type == "deleted")
        if moved and event.dest_path:
            self._on_path(_path(event.dest_path), is_dir, False)


def _path(raw: str | bytes) -> Path:
    return Path(raw.decode() if isinstance(raw, bytes) else raw)


class Watcher:
    """A watchdog observer over ``directories`` calling ``on_path`` per event, in the kernel's
    order for each watched tree.

    The kernel watches each tree less the ignored directory trees ``leave_out`` names
    (:mod:`.coverage`). As the tree changes, so do the watches: a directory that appears where
    the watches are not recursive is covered at once, before its event is passed on (the engine
    then reads what the directory already holds, and the watch reports the rest); one that leaves
    takes its watches along; and an ignored directory that gains directories of its own under a
    recursive watch (``npm install`` making ``node_modules/…``) has that watch planned again
    without it."""

    def __init__(self, directories: list[Path], on_path: OnPath, leave_out: LeaveOut | None = None) -> None:
        self._observer = Observer()
        self._observer.daemon = True
        self._on_path = on_path
        self._handler = _Handler(self._report)
        self._leave_out: LeaveOut = leave_out or (lambda directory: False)
        self._lock = threading.RLock()
        """``add`` runs on the engine's worker, the rest on the observer's thread."""
        self._watches: dict[Path, tuple[bool, ObservedWatch]] = {}
        self._skipped: set[Path] = set()
        self._tops: set[Path] = set()
        self._directories = directories

    def add(self, directory: Path) -> None:
        """Watch another directory tree, unless it is watched already."""
        with self._lock:
            if self._covered(directory):
                return
            self._tops.add(directory)
            self._apply(*plan(directory, self._leave_out, self._skipped), asked=True)

    def reconsider(self, directory: Path) -> None:
        """The ignore rules below ``directory`` changed: the directories left out there that
        are no longer ignored are watched from now on."""
        with self._lock:
            for skipped in [d for d in self._skipped if d.is_relative_to(directory)]:
                if skipped in self._skipped and not self._leave_out(skipped):
                    self._skipped.discard(skipped)
                    self._apply(*plan(skipped, self._leave_out, self._skipped))

    @property
    def watched(self) -> dict[Path, bool]:
        """Each watched directory, and whether its watch is recursive."""
        with self._lock:
            return {directory: recursive for directory, (recursive, _) in self._watches.items()}

    def start(self) -> None:
        """Watch the directories given. The observer runs first, so that each watch is made as
        it is scheduled, and one that cannot be made below a directory given is skipped."""
        self._observer.start()
        for directory in self._directories:
            self.add(directory)

    def stop(self) -> None:
        self._observer.stop()
        self._observer.join(timeout=5)

    def _report(self, path: Path, is_dir: bool, gone: bool) -> None:
        if is_dir:
            with contextlib.suppress(OSError):  # a watch not made (gone, the kernel's limit): the rest goes on
                self._follow(path, gone)
        self._on_path(path, is_dir, gone)

    def _follow(self, directory: Path, gone: bool) -> None:
        with self._lock:
            if gone:
                self._forget(directory)
            elif self._under_skipped(directory) or directory in self._watches:
                return
            elif self._watched_alone(directory.parent):
                self._cover(directory)
            else:
                self._plan_again(directory)

    def _cover(self, directory: Path) -> None:
        """A directory that appeared under one watched on its own: its own watches, none if it
        is ignored."""
        if self._leave_out(directory):
            self._skipped.add(directory)
        else:
            self._apply(*plan(directory, self._leave_out, self._skipped))

    def _plan_again(self, directory: Path) -> None:
        """A directory appeared under a recursive watch. If it is ignored and holds directories,
        or it is in an ignored directory, that ignored directory is left out from now on: the
        recursive watch is replaced by watches without it."""
        top = self._recursive_above(directory)
        if top is None or top == directory:
            return
        below_top = [d for d in (directory, *directory.parents) if d != top and d.is_relative_to(top)]
        ignored = next((d for d in reversed(below_top) if self._leave_out(d)), None)  # the highest
        if ignored is None or (ignored == directory and not subdirectories(directory)):
            return  # a plain directory, or an empty ignored one: the recursive watch takes it
        self._skipped.add(ignored)
        self._apply(*plan(top, self._leave_out, self._skipped))

    def _apply(self, watches: dict[Path, bool], skipped: set[Path], *, asked: bool = False) -> None:
        """Make the planned watches. One that cannot be made (its directory gone meanwhile, the
        kernel's limit reached) is skipped and the rest are made, as watchdog's recursive watch
        does below its root; ``asked``: the plan's first directory is one :meth:`add` was given,
        which raises."""
        replaced = []
        given = next(iter(watches)) if asked else None
        for directory, recursive in watches.items():
            current = self._watches.get(directory)
            if current is not None and current[0] == recursive:
                continue
            try:
                watch = self._observer.schedule(
                    self._handler, str(directory), recursive=recursive, event_filter=WATCHED_EVENTS
                )
            except OSError:
                if directory == given:
                    raise
                continue
            self._watches[directory] = (recursive, watch)
            if current is not None:
                replaced.append(current[1])
        for watch in replaced:
            self._observer.unschedule(watch)
        self._skipped |= skipped

    def _forget(self, directory: Path) -> None:
        """A directory left: its watches go (a new one of its name gets its own)."""
        for watched in [d for d in self._watches if d.is_relative_to(directory) and d not in self._tops]:
            self._observer.unschedule(self._watches.pop(watched)[1])
        self._skipped = {d for d in self._skipped if not d.is_relative_to(directory)}

    def _covered(self, directory: Path) -> bool:
        return self._recursive_above(directory) is not None and not self._under_skipped(directory)

    def _recursive_above(self, directory: Path) -> Path | None:
        """The directory whose recursive watch covers ``directory``, if one does."""
        for candidate in (directory, *directory.parents):
            current = self._watches.get(candidate)
            if current is not None and current[0]:
                return candidate
        return None

    def _watched_alone(self, directory: Path) -> bool:
        current = self._watches.get(directory)
        return current is not None and not current[0]

    def _under_skipped(self, directory: Path) -> bool:
        return any(parent in self._skipped for parent in (directory, *directory.parents))
