"""One watcher per workspace, however many of the user's sessions work in it.

Every session that captures a workspace — ``crowdcode shell`` in a git working tree, the Neovim
host, the LSP recorder (VS Code, Neovim's and Emacs's LSP clients) — asks for a
:class:`WorkspaceCapture`. The first takes an exclusive ``flock`` on a file named for the
workspace under the runtime directory and its engine starts watching: it is the owner, and the
workspace's ``file_change`` and ``workspace_snapshot`` events go into its timeline. The others wait
for the lock on a thread, at no cost. The kernel releases a lock when its holder exits or is
killed, so one waiter takes over without any heartbeat: it scans, compares with the hand-over state
the old owner kept (:mod:`.handover`) and records what changed since the old owner's last recorded
change, then watches on. The evidence of every live session reaches the owner: foreground
programs, agents and recent commands through the live registry, which every recorded terminal
publishes to; editors' buffers and their pending edits by asking the editor (:mod:`.documents`),
which records its own user ``file_save``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path

from ..locations import open_private, private_dir
from ..session import Session
from .engine import Attribution
from .handover import KnownState


class WorkspaceCapture:
    """Workspace capture for ``session``, shared with every other live session on ``roots[0]``
    (an editor's further workspace folders are watched with it by whichever session owns it).

    ``engine`` is the session's attribution engine, owner or not: an editor reports its documents
    to it (``editor=True``); it watches only while this session owns the workspace. Without roots
    (an editor started in the home directory) there is nothing to watch and no election."""

    def __init__(self, session: Session, roots: Path | Sequence[Path], *, editor: bool = False) -> None:
        self.session = session
        roots = [roots] if isinstance(roots, Path) else list(roots)
        self._mutex = threading.Lock()
        self._closed = False
        self._owner = False
        self.engine = Attribution(session, roots, wait=False, editor=editor, watch=False)
        self._fd: int | None = None
        if not roots:
            return
        self.root = roots[0]
        key = hashlib.sha256(os.fsencode(self.root)).hexdigest()[:16]
        directory = private_dir(session.locations.runtime_dir / "workspaces")
        self._state = KnownState(directory / f"{key}.state")
        self._fd = open_private(directory / f"{key}.lock", os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            threading.Thread(target=self._wait, name="crowdcode-workspace-wait", daemon=True).start()
        else:
            self._own(resume=False)

    @property
    def owner(self) -> bool:
        return self._owner

    def _wait(self) -> None:
        assert self._fd is not None
        with contextlib.suppress(OSError):  # closed while waiting: the session ended first
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            self._own(resume=True)

    def _own(self, *, resume: bool) -> None:
        """Hold the lock: watch. ``resume``: another session owned the workspace until now."""
        with self._mutex:
            if self._closed:
                return
            self.engine.watch(handover=self._state, resume=resume)
            self._owner = True
            self.session.publish(workspaceOwner=str(self.root))

    def close(self) -> None:
        """Stop: an owner decides what is pending, then its lock passes to a waiting session."""
        with self._mutex:
            self._closed = True
        self.engine.close()
        if self._fd is not None:
            os.close(self._fd)


__all__ = ["WorkspaceCapture"]
