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
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from ..ignore import read_gitdir_file
from ..schema import Source

BACKWARD_MS = 1000
"""How far before a file event a git signal still explains it."""
HEAD_BACKWARD_MS = 200
"""A HEAD move makes it a checkout only if it is this close before the files (git moves HEAD after
writing them; an earlier move belongs to an earlier command)."""
FORWARD_MS = 300
"""How long after a file event (or the end of an operation) to wait for git signals."""
STALE_LOCK_MS = 30_000
"""An index.lock older than this is a crashed git's leftover, not an operation."""

_SIGNAL_NAMES = frozenset(
    {"HEAD", "ORIG_HEAD", "index", "index.lock", "HEAD.lock", "packed-refs", "packed-refs.lock", "MERGE_HEAD",
     "CHERRY_PICK_HEAD", "REVERT_HEAD", "AUTO_MERGE"}
)
_SIGNAL_DIRS = frozenset({"rebase-merge", "rebase-apply", "sequencer"})


@dataclass(frozen=True)
class GitRepo:
    worktree: Path
    git_dir: Path
    common_dir: Path

    def watch_dirs(self) -> list[Path]:
        return [self.git_dir] if self.common_dir == self.git_dir else [self.git_dir, self.common_dir]


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


def workspace_root(start: Path) -> Path:
    """The workspace a terminal session started in ``start`` watches: its git working tree's
    root, else ``start`` itself."""
    repo = find_repo(start.absolute())
    return repo.worktree if repo is not None else start.absolute()


@dataclass
class Operation:
    """One git command holding the index lock: from when it was first seen to its release."""

    start: int
    end: int | None = None
    head_moved: bool = False


@dataclass
class _State:
    head: tuple[str, str | None] | None = None
    signals: deque[tuple[int, bool]] = field(default_factory=lambda: deque(maxlen=4096))
    """(time, head moved) of each git-directory event."""


class GitActivity:
    """Watches one repository's git directories; thread-safe (watcher thread writes, worker
    reads)."""

    def __init__(self, repo: GitRepo) -> None:
        self.repo = repo
        self._lock = threading.Lock()
        self._state = _State(head=self._read_head())
        self._operation: Operation | None = None

    def owns(self, path: Path) -> bool:
        return any(path.is_relative_to(d) for d in self.repo.watch_dirs())

    def on_git_event(self, path: Path, now: int) -> None:
        """An event inside a git directory: note it if it is a signal of a working-tree change."""
        if not self._is_signal(path):
            return
        head = self._read_head()
        with self._lock:
            moved = head != self._state.head
            self._state.head = head
            self._state.signals.append((now, moved))
            if path.name == "index.lock" and not (self.repo.git_dir / "index.lock").exists():
                self._close_operation(now)
            if moved and self._operation is not None and (
                self._operation.end is None or now <= self._operation.end + FORWARD_MS
            ):
                self._operation.head_moved = True

    def sample(self, now: int) -> Operation | None:
        """Called for each working-tree file event as it arrives: the git operation in progress,
        if any (``index.lock`` exists)."""
        lock = self.repo.git_dir / "index.lock"
        try:
            age = now - int(lock.stat().st_mtime * 1000)
        except OSError:
            with self._lock:
                self._close_operation(now)
            return None
        if age > STALE_LOCK_MS:
            return None
        with self._lock:
            if self._operation is None or self._operation.end is not None:
                self._operation = Operation(start=now)
            return self._operation

    def settled(self, operation: Operation | None, last: int, now: int) -> bool:
        """Whether a file event last seen at ``last`` can be decided at ``now``."""
        if operation is not None:
            if operation.end is None:
                if (self.repo.git_dir / "index.lock").exists() and now - operation.start < STALE_LOCK_MS:
                    return False
                with self._lock:
                    self._close_operation(now)
            return now >= (operation.end or now) + FORWARD_MS
        return now >= last + FORWARD_MS

    def verdict(self, operation: Operation | None, first: int, last: int) -> Source | None:
        """``git_checkout``/``git`` if git explains a file event seen from ``first`` to ``last``."""
        with self._lock:
            if operation is not None:
                start, end = operation.start - HEAD_BACKWARD_MS, (operation.end or last) + FORWARD_MS
                moved = operation.head_moved or any(m for t, m in self._state.signals if start <= t <= end)
                return Source.GIT_CHECKOUT if moved else Source.GIT
            window = [(t, m) for t, m in self._state.signals if first - BACKWARD_MS <= t <= last + FORWARD_MS]
        if not window:
            return None
        moved = any(m for t, m in window if t >= first - HEAD_BACKWARD_MS)
        return Source.GIT_CHECKOUT if moved else Source.GIT

    def _close_operation(self, now: int) -> None:
        if self._operation is not None and self._operation.end is None:
            self._operation.end = now

    def _is_signal(self, path: Path) -> bool:
        for base in self.repo.watch_dirs():
            if path.is_relative_to(base):
                parts = path.relative_to(base).parts
                if not parts:
                    return False
                if parts[0] == "refs":
                    return len(parts) > 1 and parts[1] != "remotes"
                if parts[0] in _SIGNAL_DIRS:
                    return True
                return len(parts) == 1 and parts[0] in _SIGNAL_NAMES
        return False

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
