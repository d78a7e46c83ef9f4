"""Is git changing the working tree right now? Evidence from the repository's git directory.

Every git command that writes working-tree files (checkout, switch, restore, stash, reset, merge,
rebase, cherry-pick …) holds ``index.lock`` while it does so, then moves HEAD if it switches. So:

- a file event that arrives while ``index.lock`` exists joins that *operation*, and is decided
  only after the lock is gone and a forward window has passed — one verdict for every file of a
  checkout however long it runs (crowd-code's fixed 500 ms window saw the first files only);
- a file event outside any held lock is git's when a git signal (index lock, HEAD, refs,
  packed-refs, ORIG_HEAD, rebase state) lies within a window that looks backward *and* forward,
  since inotify reports the git directory and the files in no guaranteed order;
- the source is ``git_checkout`` when HEAD (symbolic ref or commit, packed refs included) moved
  within that operation or window, else ``git``.

Worktrees (a ``.git`` *file*) keep HEAD and index in their own git dir and refs in the common
dir; both are watched. Remote-tracking refs and FETCH_HEAD are ignored: a background fetch
changes no working-tree file and must not turn a save into git's change.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import subprocess
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from ..schema import Source

BACKWARD_MS = 1000
"""How far before a file event a git signal still explains it."""
HEAD_BACKWARD_MS = 50
"""A HEAD move makes it a checkout only if it is this close before the files (git moves HEAD after
writing them; an earlier move belongs to an earlier command)."""
FORWARD_MS = 150
"""How long after a file event (or the end of an operation) to wait for git signals."""
RELEASE_WAIT_MS = 500
"""How long the watcher must have been idle, with the lock gone, before a release that was never
reported is assumed."""
STALE_LOCK_MS = 30_000
PROBE_INTERVAL_MS = 20
"""How often file events look for the index lock on disk (its own events usually tell first)."""
"""An index.lock older than this is a crashed git's leftover, not an operation."""

_WEAK_NAMES = frozenset({"index", "index.lock", "packed-refs", "packed-refs.lock", "HEAD.lock"})
"""Also written by commands that leave the working tree alone (status refreshing the index, add,
commit): such a signal explains a file only if the file now holds what the index says."""
_STRONG_NAMES = frozenset({"ORIG_HEAD", "MERGE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD", "AUTO_MERGE"})
_STRONG_DIRS = frozenset({"rebase-merge", "rebase-apply", "sequencer"})
"""Written only by commands that rewrite the working tree (reset, merge, rebase, cherry-pick …)."""


class Signal(enum.IntEnum):
    NONE = 0
    WEAK = 1
    STRONG = 2


@dataclass(frozen=True)
class GitVerdict:
    source: Source
    needs_index_match: bool
    """Only weak signals: git's only if the file's content is the index's (see :meth:`GitActivity.index_blobs`)."""


@dataclass(frozen=True)
class GitRepo:
    worktree: Path
    git_dir: Path
    common_dir: Path

    def watch_dirs(self) -> list[Path]:
        return [self.git_dir] if self.common_dir == self.git_dir else [self.git_dir, self.common_dir]


def read_gitdir_file(dot_git: Path) -> Path | None:
    """Follow a worktree's or submodule's ``.git`` file (``gitdir: <path>``)."""
    try:
        content = dot_git.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not content.startswith("gitdir:"):
        return None
    target = Path(content.removeprefix("gitdir:").strip())
    return target if target.is_absolute() else (dot_git.parent / target).resolve()


def find_repo(start: Path) -> GitRepo | None:
    """The repository whose working tree contains ``start`` (worktrees and submodules too)."""
    for directory in (start, *start.parents):
        dot_git = directory / ".git"
        if dot_git.is_dir():
            git_dir: Path | None = dot_git
        elif dot_git.is_file():
            git_dir = read_gitdir_file(dot_git)
        else:
            continue
        if git_dir is None:
            return None
        common = git_dir
        with contextlib.suppress(OSError, UnicodeDecodeError):
            text = (git_dir / "commondir").read_text(encoding="utf-8").strip()
            common = (git_dir / text).resolve()
        return GitRepo(directory, git_dir.resolve(), common.resolve())
    return None


def capture_root(start: Path) -> Path | None:
    """The workspace a session started in ``start`` captures: its git working tree (outside one
    there is no workspace to speak of — a terminal in the home directory watches nothing)."""
    repo = find_repo(start.absolute())
    return repo.worktree if repo is not None else None


def workspace_root(start: Path) -> Path:
    """The workspace a terminal session started in ``start`` watches: its git working tree's
    root, else ``start`` itself."""
    return capture_root(start) or start.absolute()


@dataclass
class Operation:
    """One git command holding the index lock: from when it was first seen to its release."""

    start: int
    end: int | None = None
    head_moved: bool = False
    strong: bool = False


@dataclass
class _State:
    head: tuple[str, str | None] | None = None
    signals: deque[tuple[int, Signal, bool]] = field(default_factory=lambda: deque(maxlen=4096))
    """(time, strength, HEAD moved) of each git-directory event."""


class GitActivity:
    """Watches one repository's git directories; thread-safe (watcher thread writes, worker
    reads)."""

    def __init__(self, repo: GitRepo) -> None:
        self.repo = repo
        self._lock = threading.Lock()
        self._state = _State(head=self._read_head())
        self._operation: Operation | None = None
        self._dir_strings = [str(d) for d in repo.watch_dirs()]
        self.last_seen = 0
        self._probed_at = 0
        self._held = False

    def owns(self, path: Path) -> bool:
        text = str(path)
        return any(text == d or text.startswith(d + "/") for d in self._dir_strings)

    def on_git_event(self, path: Path, now: int, gone: bool) -> None:
        """An event inside a git directory, in the order the kernel reported it: the index lock
        appearing opens an operation, its removal (the rename to ``index``) closes it."""
        self.last_seen = now
        strength = self._signal(path)
        if strength is Signal.NONE:
            return
        head = self._read_head()
        with self._lock:
            previous = self._state.head
            moved = head != previous
            if moved and previous is not None and head is not None and previous[0] != head[0]:
                strength = Signal.STRONG  # HEAD now names another branch or commit: a switch
            self._state.head = head
            self._state.signals.append((now, strength, moved))
            if path.name == "index.lock" and path.parent == self.repo.git_dir:
                if gone:
                    self._close_operation(now)
                else:
                    self._open_operation(now)
            operation = self._operation
            if operation is not None and (operation.end is None or now <= operation.end + FORWARD_MS):
                operation.head_moved |= moved
                operation.strong |= strength is Signal.STRONG

    def sample(self, now: int) -> Operation | None:
        """Called for each working-tree file event as it arrives: the git operation it belongs to.

        Events arrive in the kernel's order, so a file event reported between the lock's
        appearance and its release belongs to that operation even when the watcher lags behind
        git. (A lock seen on disk also counts: a worktree's git directory is reported by another
        watch, whose events may come late.)
        """
        self.last_seen = now
        with self._lock:
            if self._operation is not None and self._operation.end is None:
                return self._operation
        if now - self._probed_at >= PROBE_INTERVAL_MS:  # a burst of events costs one stat
            self._probed_at = now
            try:
                self._held = now - int((self.repo.git_dir / "index.lock").stat().st_mtime * 1000) <= STALE_LOCK_MS
            except OSError:
                self._held = False
        if not self._held:
            return None
        with self._lock:
            return self._open_operation(now)

    def settled(self, operation: Operation | None, last: int, now: int) -> bool:
        """Whether a file event last seen at ``last`` can be decided at ``now``: an operation's
        files wait for its release to be reported (or, if that report never comes, for the lock
        to be gone while the watcher is idle), plus the forward window."""
        if operation is None:
            return now >= last + FORWARD_MS
        with self._lock:
            if operation.end is None:
                if (self.repo.git_dir / "index.lock").exists() and now - operation.start < STALE_LOCK_MS:
                    return False
                if now - self.last_seen < RELEASE_WAIT_MS:
                    return False
                self._close_operation(now)
            return now >= (operation.end or now) + FORWARD_MS

    def _open_operation(self, now: int) -> Operation:
        operation = self._operation
        if operation is not None and operation.end is None:
            return operation
        if operation is not None and operation.end is not None and now - operation.end <= FORWARD_MS:
            operation.end = None  # the next step of one command (rebase, stash): one operation
            return operation
        self._operation = Operation(start=now)
        return self._operation

    def verdict(self, operation: Operation | None, first: int, last: int) -> GitVerdict | None:
        """Whether git explains a file event seen from ``first`` to ``last``: ``git_checkout`` when
        HEAD moved, else ``git``."""
        with self._lock:
            if operation is not None:
                start, end = operation.start - HEAD_BACKWARD_MS, (operation.end or last) + FORWARD_MS
                window = [(Signal.WEAK, False)]
                window += [(k, m) for t, k, m in self._state.signals if start <= t <= end]
                window.append((Signal.STRONG if operation.strong else Signal.WEAK, operation.head_moved))
            else:
                window = [
                    (k, m)
                    for t, k, m in self._state.signals
                    if first - BACKWARD_MS <= t <= last + FORWARD_MS and (not m or t >= first - HEAD_BACKWARD_MS)
                ]
                latest = self._operation
                if (
                    latest is not None
                    and latest.head_moved
                    and latest.end is not None
                    and latest.start <= first <= latest.end + BACKWARD_MS
                ):
                    # A file of an operation that moved HEAD, reported after its release: the
                    # working tree and the git directory may be watched on different threads, and
                    # a checkout's hundreds of files keep theirs behind. Weak: git's only if the
                    # file holds what the index says, as the window alone would require.
                    window.append((Signal.WEAK, True))
        if not window:
            return None
        moved = any(m for _, m in window)
        strong = any(k is Signal.STRONG for k, _ in window)
        return GitVerdict(Source.GIT_CHECKOUT if moved else Source.GIT, needs_index_match=not strong)

    def index_blobs(self, paths: list[Path]) -> dict[Path, str]:
        """The blob id the index holds for each of ``paths`` (absent when not in the index)."""
        rels = [str(p.relative_to(self.repo.worktree)) for p in paths if p.is_relative_to(self.repo.worktree)]
        if not rels:
            return {}
        try:
            out = subprocess.run(
                ["git", "-C", str(self.repo.worktree), "ls-files", "--stage", "-z", "--", *rels],
                capture_output=True,
                check=True,
                timeout=30,
            ).stdout
        except (OSError, subprocess.SubprocessError):
            return {}
        blobs: dict[Path, str] = {}
        for record in out.split(b"\0"):
            if not record:
                continue
            meta, _, name = record.partition(b"\t")
            blobs[self.repo.worktree / name.decode("utf-8", "surrogateescape")] = meta.split()[1].decode()
        return blobs

    def _close_operation(self, now: int) -> None:
        if self._operation is not None and self._operation.end is None:
            self._operation.end = now

    def _signal(self, path: Path) -> Signal:
        for base in self.repo.watch_dirs():
            if path.is_relative_to(base):
                parts = path.relative_to(base).parts
                if not parts:
                    return Signal.NONE
                if parts[0] == "refs":
                    if len(parts) < 2 or parts[1] == "remotes":
                        return Signal.NONE  # a fetch changes no working-tree file
                    return Signal.STRONG if parts[1] == "stash" else Signal.WEAK
                if parts[0] in _STRONG_DIRS or (len(parts) == 1 and parts[0] in _STRONG_NAMES):
                    return Signal.STRONG
                if len(parts) == 1 and (parts[0] in _WEAK_NAMES or parts[0] == "HEAD"):
                    return Signal.WEAK
                return Signal.NONE
        return Signal.NONE

    def _read_head(self) -> tuple[str, str | None] | None:
        """HEAD as (its text, the commit it resolves to through loose or packed refs)."""
        try:
            head = (self.repo.git_dir / "HEAD").read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            return None
        if not head.startswith("ref:"):
            return head, head
        ref = head.removeprefix("ref:").strip()
        for base in (self.repo.git_dir, self.repo.common_dir):
            with contextlib.suppress(OSError, UnicodeDecodeError):
                return head, (base / ref).read_text(encoding="utf-8").strip()
        with contextlib.suppress(OSError, UnicodeDecodeError):
            for line in (self.repo.common_dir / "packed-refs").read_text(encoding="utf-8").splitlines():
                sha, _, name = line.partition(" ")
                if name == ref:
                    return head, sha
        return head, None


def blob_id(data: bytes) -> str:
    """The id git gives a file's content (``git hash-object``, no filters)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()
