"""The attribution engine: editor edits + filesystem events → who changed what.

See docs/attribution.md for the algorithm. In short: an editor adapter reports what the person
does to open documents (:meth:`Attribution.edit` records the ``edit`` and buffers it); the watcher
reports what reaches the disk. When a file changes on disk, the buffered edits are replayed on
the buffer's base: if some prefix of them gives the new content, the editor saved it (a
``file_save``); what is left is someone else's change, a ``file_change`` with the diff from the
user-explained content and the source the evidence gives (git activity, a command in a recorded
terminal), else ``agent`` for a change and ``unknown`` for a create or delete.

Threads: adapters call the public methods from any thread and record their ``edit``s under the
engine's lock, which guards the documents and baselines and is held only for work in memory. The
watchdog thread only stamps file events into the :class:`Inbox`. Everything else reaches the
engine as a message in that same inbox — the workspace owner's question about an open document
(``explain`` on the control socket), the session's panic, a snapshot asked for by an adapter —
and one worker thread consumes it all: it decides the file events, answers the questions and
records ``file_save``, ``file_change`` and ``workspace_snapshot``. Every engine has its worker;
one whose session does not own the workspace only answers messages. The worker asks the editors
of other sessions with the lock released (answering its own messages while it waits), so an
adapter's ``edit`` never waits for another process.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ..ignore import FileContent, IgnoreRules, Skip, is_secret
from ..positions import content_facts, final_break_variant, text_sha256, touches_span
from ..schema import (
    ChangeType,
    ContentFacts,
    Edit,
    EditReason,
    Event,
    Evidence,
    FileChange,
    FileClose,
    FileOpen,
    FileSave,
    Source,
    TextChange,
)
from ..session import Session
from .barrier import Barrier
from .baselines import ABSENT, Baseline, Baselines
from .blobs import file_content_id
from .diffs import minimal_change, unified_diff
from .documents import ANSWER_WAIT_S, Answer, Question, ask, editors_holding
from .evidence import TerminalEvidence, Verdict
from .git import FORWARD_MS, GitActivity, Operation, blob_id, find_repo, workspace_root
from .handover import Known, KnownState
from .pending import EditChain
from .snapshots import Manifest, SnapshotStore
from .watcher import ABSENT_STAMP, Inbox, Pending, Prepared, Stamp, Watcher, stamp_of

SAVE_HINT_TTL_MS = 5000
"""A save hint no disk event confirmed within this long is dropped (the write failed)."""
HINT_WAIT_MS = 600
"""How long an unexplained change to an open document waits for the editor's late edits or save
hint (they travel through the adapter's event stream, the write through inotify) before it is
looked at again. An editor that answers barriers (:meth:`Attribution.follow_editor`) is waited
for until its barrier is back; any other, once."""
BARRIER_WAIT_MS = SAVE_HINT_TTL_MS
"""How long a change waits at most for an editor's barrier, or for a recorded terminal to catch up:
past it the editor or terminal is taken to be stuck (stopped, or a plugin that does not answer),
and the change is decided without it."""
TERMINAL_RETRY_MS = 50
"""How soon a change that waits for a recorded terminal to catch up asks again."""

CLOSING_WAIT_S = 3.0
"""How long an editor that does not own its workspace waits, when it closes, for the owner to
decide its last saves (the owner asks within ``FORWARD_MS`` of the write, unless it is busy)."""

MTIME_GRAIN_MS = 10
"""How far a file's modification time may trail its write: one tick of the kernel's coarse clock
(10 ms at the lowest usual rate, 100 Hz). An editor's reload of another program's write comes
later than that (it must notice the write, then read the file)."""

PREPARE_QUIET_MS = 30
"""A file quiet this long while its verdict waits is read and diffed ahead (see ``_prepare``)."""
PREPARE_BATCH = 64

_log = logging.getLogger(__name__)
_T = TypeVar("_T")

_BATCH_ENDERS = frozenset({"edit", "selection", "tab_switch", "terminal_focus", "terminal_command", "file_save"})


@dataclass
class _Document:
    chain: EditChain
    hints: list[tuple[int, int]] = field(default_factory=list)
    """(time, number of chain edits) of each unconfirmed save hint."""
    disk_stamp: Stamp | None = None
    """The file's (modification time ns, size) when it last held the chain's base (the buffer was
    opened from it, saved to it or reloaded from it) or did not exist; ``None``: not known."""
    saved_stamp: Stamp | None = None
    """The ``disk_stamp`` of the buffer's last decided save, while no edit has come since."""


@dataclass(frozen=True)
class _Explain:
    """The workspace owner's question (from another session's control request)."""

    question: Question
    reply: Future[Answer | None]


@dataclass(frozen=True)
class _Panic:
    """The session removed its events from ``cutoff`` on; ``upto``: its last sequence then (a
    snapshot recorded later is not among the removed)."""

    cutoff: int
    upto: int


@dataclass(frozen=True)
class _Snapshot:
    """An adapter asks for a snapshot (before an agent's batch of edits)."""

    reply: Future[str | None]


@dataclass(frozen=True)
class _Watch:
    """Wakes the worker to scan and decide: its session now owns the workspace."""


@dataclass(frozen=True)
class _Stop:
    """Wakes the worker to end (after its final pass, when it owns the workspace)."""


SNAPSHOT_WAIT_S = 10.0
"""How long an adapter waits for the worker to take the snapshot it asked for (the worker may be
deciding a long checkout); past it the snapshot is taken when the worker gets to it."""


@dataclass(frozen=True)
class _Root:
    path: Path
    rules: IgnoreRules
    git: GitActivity | None


class Attribution:
    """Watches ``roots`` for ``session`` and attributes every change. See the module docstring.

    ``wait`` (default) returns only after the initial scan has read every file's baseline; with
    ``wait=False`` the scan runs in the background and a file changed before the scan reached it
    gets a ``file_change`` without a diff (its old content is not known), never a wrong one.
    ``editor=False`` (a terminal session): no editor reports documents, so no change waits for one.
    """

    def __init__(
        self,
        session: Session,
        roots: Iterable[Path],
        *,
        wait: bool = True,
        max_file_bytes: int | None = None,
        snapshots: bool | None = None,
        editor: bool = True,
        watch: bool = True,
    ) -> None:
        self.session = session
        self._handover: KnownState | None = None
        self._resume = False
        self._editor = editor
        config = session.config
        self._max_bytes = max_file_bytes or config["attribution.max_file_bytes"]
        self._snapshots_enabled = config["snapshots.enabled"] if snapshots is None else snapshots
        self._snapshot_max_bytes = config["snapshots.max_total_bytes"]
        self._lock = threading.RLock()
        self._store = SnapshotStore(session.locations.data_dir)
        self._baselines = Baselines(self._store.blobs)
        self._documents: dict[Path, _Document] = {}
        self._closing: dict[Path, tuple[_Document, int]] = {}
        """Documents the editor closed whose last save is still to be decided (``:wq``), with
        the time their ``file_close`` is recorded anyway."""
        self._evidence = TerminalEvidence(session.locations)
        self._barrier: Barrier | None = None
        self._reports_reloads = True
        self._inbox = Inbox()
        self._roots: list[_Root] = []
        gits: dict[Path, GitActivity] = {}
        places = session.locations
        own = (places.data_dir, places.runtime_dir, places.config_file.parent)
        for root in sorted({Path(r).absolute() for r in roots}, key=lambda p: len(p.parts), reverse=True):
            repo = find_repo(root)
            git = None
            if repo is not None:
                git = gits.setdefault(repo.git_dir, GitActivity(repo))
            self._roots.append(
                _Root(
                    root,
                    IgnoreRules(root, max_bytes=self._max_bytes, git_dir=repo.git_dir if repo else None, exclude=own),
                    git,
                )
            )
        self._gits = _by_depth(gits.values())
        self._nested: list[tuple[str, GitActivity]] = []
        """Repositories inside a root (submodules, nested clones), deepest first, by worktree."""
        self._snapshot_count = 0
        self._unpublished: set[Path] = set()
        """Files whose current disk text no snapshot, diff or ``file_open`` has recorded."""
        self._stated: dict[Path, str] = {}
        """While another session owns the workspace: the content id of each file as this
        session's journal states it (its opens and saves), so that when it takes over it records
        what changed meanwhile before its first snapshot states the disk."""
        self._snapshots_taken: list[tuple[str, int, int]] = []
        """(id, timestamp, sequence) of each snapshot recorded."""
        self._last_snapshot: tuple[str, dict[str, str]] | None = None
        self._batch_snapshot = 0
        """The sequence of the snapshot that began the current agent batch (0: none)."""
        self._scanned = threading.Event()
        self._scan_end: int | None = None
        self._scan_reads: dict[Path, int] = {}
        self._last_event = 0.0
        self._stopping = False
        # The kernel watches real directories: a root given through a symbolic link is watched
        # at its target, and reported paths are mapped back to the root as given.
        self._aliases = [(r.path.resolve(), r.path) for r in self._roots if r.path.resolve() != r.path]
        watch_dirs = [r.path.resolve() for r in self._roots]
        for git in self._gits:
            watch_dirs.extend(d for d in git.repo.watch_dirs() if not any(d.is_relative_to(w) for w in watch_dirs))
        self._watch_dirs = watch_dirs
        self._watcher: Watcher | None = None
        self._documents_changed = threading.Condition(self._lock)
        self._worker = threading.Thread(target=self._run, name="crowdcode-attribution", daemon=True)
        session.add_panic_hook(self._on_panic)
        if editor:
            # The workspace's owner, in whichever session it runs, asks this engine about the
            # documents it publishes (see ``documents.py``).
            session.add_control("explain", self._on_explain)
            self._publish_documents()
        self._worker.start()
        if watch:
            self.watch(wait=wait)

    def watch(self, *, wait: bool = False, handover: KnownState | None = None, resume: bool = False) -> None:
        """Start deciding the workspace's changes: the watcher, the initial scan and the worker.
        ``handover``: the workspace's state for a future owner; ``resume``: another session owned
        the workspace until now (record what changed since its last recorded change)."""
        self._handover = handover
        self._resume = resume
        with self._lock:
            # What an editor read at its opens while another session owned the workspace may be
            # stale by now: the scan reads every file afresh.
            self._baselines = Baselines(self._store.blobs)
        watcher = Watcher(self._watch_dirs, self._on_path, self._left_out)
        watcher.start()  # before the scan: a change during the scan is queued, not lost
        self._watcher = watcher
        self._inbox.post(_Watch())
        if wait:
            self._scanned.wait()

    @property
    def watching(self) -> bool:
        return self._watcher is not None

    @classmethod
    def for_terminal(cls, session: Session, start: Path, *, wait: bool = True) -> Attribution:
        """The engine for a terminal session started in ``start``: it watches the git working
        tree containing ``start`` (else ``start`` itself) and has no documents; the shell's
        registry facts are its evidence."""
        return cls(session, roots=[workspace_root(Path(start))], wait=wait, editor=False)

    # --- the adapter API -------------------------------------------------------------------------

    def follow_editor(self, request: Callable[[int], None], *, reports_reloads: bool = True) -> None:
        """For an editor whose events arrive in the order it made them and which reports its
        every write (:meth:`save_document`), as the Neovim plugin and LSP clients (``didSave``)
        do. ``request(token)`` asks it, without blocking, to send ``token`` back after everything
        it has sent so far; the adapter passes it to :meth:`editor_caught_up`. A write its buffer
        does not explain in time then waits for that barrier instead of a fixed time: however late
        the save hint, it is counted (see :mod:`.barrier`).

        ``reports_reloads``: the editor says when it loads the disk's text (the plugin's
        :meth:`reload_document`). An LSP client does not: its reload is ordinary changes, so edits
        that reach the write's text only after it was made, with no save hint by the time the
        barrier is back, are the client loading another program's change, not a save."""
        with self._lock:
            self._barrier = Barrier(request)
            self._reports_reloads = reports_reloads

    def editor_caught_up(self, token: int) -> None:
        """The token of :meth:`follow_editor`'s ``request`` came back."""
        with self._lock:
            if self._barrier is not None:
                self._barrier.returned(token)

    def open_document(self, path: Path, text: str, *, absent: bool = False) -> None:
        """The editor opened ``path`` with ``text``; its edits are buffered from here on.

        The ``file_open`` starts the replay of the buffer: it holds the disk's text (a buffer that
        differs from it follows as a ``reload`` edit) or, for a file not on disk or outside the
        workspace, the buffer's. The text itself travels with the event unless a snapshot or a
        recorded diff already holds it; its ``content`` facts always do.

        ``absent``: the file was not on disk when the editor's buffer took it: a new file
        (Neovim's ``BufNewFile``), or one the editor opens as it writes it (``:w other``, a
        scratch buffer named by its write). The open may reach the engine after a write that
        followed it (typed at once: ``:e new.txt``, text, ``:w``), and before the watcher has
        reported that write. A file new to the engine is then taken as absent before, not read:
        read, the write would become the baseline, be recorded neither as a save nor as a change,
        and a replay would not know the file.
        """
        path = self._normalise(path)
        if self._private(path):
            return
        with self._lock:
            closed, _ = self._closing.get(path, (None, 0))
            if closed is not None:  # reopened before its last save was decided
                self._record_close(path)
            root = self._root_of(path)
            disk = self._baselines.get(path)
            if (disk is None or not self.watching) and root is not None:
                # Not scanned yet (the scan may run in the background) or new: the baseline is
                # what the disk holds, never the buffer's text taken on trust. A file the watcher
                # is still deciding keeps no baseline until then: the editor may have written it
                # before its open reached us, and that write is to be explained, not absorbed.
                disk = ABSENT if absent and disk is None else self._baselines.of(root.rules.read(path))
                if not self._inbox.waiting(path):
                    self._baselines.set(path, disk)
                self._unpublished.add(path)
            disk_text = self._baselines.text(disk) if disk is not None and disk.exists else None
            start = text if disk_text is None else disk_text
            publish = (
                root is None or disk_text is None or self._last_snapshot is None or path in self._unpublished
            ) and len(start) <= self._max_bytes
            facts = content_facts(start, disk.sha if disk is not None and start is disk_text else None)
            self.session.record(
                FileOpen(file=self.session.relpath(path), text=start if publish else None, content=facts)
            )
            if publish:
                self._unpublished.discard(path)
                if not self.watching and start is disk_text:
                    self._stated.setdefault(path, facts.sha256)  # a replay's disk starts at the first open
            sequence = None
            if start != text:
                # The buffer is not what is on disk (unsaved buffer restored, encoding …): say how
                # it differs so that a replay of the journal rebuilds the buffer exactly.
                sequence = self._record_reload(path, start, text).sequence
            if root is not None:  # outside the workspace no watcher confirms saves: nothing to buffer
                document = _Document(EditChain(text, sequence), disk_stamp=_stamp_holding(path, text))
                if closed is not None:
                    # The closed buffer's save waits for its write (``:saveas`` then ``:e`` back, at
                    # typing speed): a write of the text this buffer opens with is that save, as
                    # for a reload (see :meth:`reload_document`).
                    saved = [(at, 0) for at, count in closed.hints if closed.chain.text_at(count) == text]
                    document.hints = saved[-1:]
                self._documents[path] = document
                self._publish_documents()

    def edit(
        self,
        path: Path,
        change: TextChange,
        *,
        source: Source = Source.USER,
        reason: EditReason | None = None,
        evidence: Evidence | None = None,
    ) -> Event | None:
        """Record an edit of an open document and buffer it for save-time correlation.

        Returns ``None`` (records nothing) for a secret or ignored file: their contents never
        enter a recording, not even as keystrokes.
        """
        path = self._normalise(path)
        if self._private(path):
            return None
        with self._lock:
            event = self.session.record(
                Edit(file=self.session.relpath(path), diff=change, reason=reason, source=source, evidence=evidence)
            )
            document = self._documents.get(path)
            if document is None:
                document = self._implicit_open(path)
            if document is not None:
                document.chain.add(change, event.sequence, event.timestamp)
                document.saved_stamp = None
            return event

    def reload_document(self, path: Path, text: str) -> None:
        """The editor replaced its buffer with the disk's ``text`` (``:e!``, autoread, revert).

        Recorded as an ``edit`` with reason ``reload`` (so a replay rebuilds the buffer) and source
        ``unknown``: the disk change itself is the watcher's to attribute.
        """
        path = self._normalise(path)
        if self._private(path):
            return
        with self._lock:
            document = self._documents.get(path)
            if document is None:
                self.open_document(path, text)
                return
            current = document.chain.text_at(len(document.chain.edits))
            sequence = document.chain.sequence_at(len(document.chain.edits))
            if current is not None and current != text:
                sequence = self._record_reload(path, current, text).sequence
            # A save not yet seen on disk whose text the reload brings back (``:w`` then ``:e!``)
            # is still the editor's save: its hint now points at the new base.
            saved = [(at, 0) for at, count in document.hints if document.chain.text_at(count) == text]
            document.chain.reset(text, sequence)
            document.hints = saved[-1:]
            document.disk_stamp = _stamp_holding(path, text)
            document.saved_stamp = None

    def disk_moved(self, path: Path) -> bool:
        """Whether the file may no longer hold what the open document ``path`` last saved or
        loaded (its modification time or size moved since): only then can a change of the buffer
        be a reload (:meth:`is_reload`, :meth:`may_be_reload`). A stat, no read: asked before the
        buffer's text is even built, on every change."""
        path = self._normalise(path)
        with self._lock:
            document = self._documents.get(path)
            if document is None:
                return False
            stamp = document.disk_stamp
        return stamp is None or stamp_of(path) != stamp

    def is_reload(self, path: Path, text: str, changes: Sequence[TextChange]) -> bool:
        """Whether ``changes``, which make the buffer ``text``, are the editor loading the file
        from disk (a client's revert or autoread): ``text`` is the disk content of a change
        already recorded as another program's ``file_change``, not what the buffer held, and the
        changes touch none of the person's unsaved text (:meth:`_unsaved_in`). Such a change is
        then :meth:`reload_document`, not the person's ``edit``. A change that matches a write
        not decided yet may be the person's own, its ``didChange`` debounced past the save: it
        stays an edit, and the decision tells the two apart (see ``_wait_for_editor``)."""
        path = self._normalise(path)
        with self._lock:
            document = self._documents.get(path)
            if document is None or text == document.chain.base or self._inbox.waiting(path):
                return False
            baseline = self._baselines.get(path)
            if baseline is None or baseline.size != len(text.encode("utf-8")):
                return False  # (the common case, checked without reading the stored text)
            return self._baselines.text(baseline) == text and not self._unsaved_in(document, changes)

    def may_be_reload(self, path: Path, text: str, changes: Sequence[TextChange]) -> bool:
        """Whether ``changes``, which make the buffer ``text``, may be the editor loading a write
        not decided yet: the disk holds ``text`` now, which is neither the buffer's text before
        the change nor what the engine last knew of the file, and the changes touch none of the
        person's unsaved text. The watcher may not have reported the write yet (the editor's own
        watcher can be quicker): the file's size is what says whether to read it, so it is read
        only when it may hold ``text``, not on every keystroke. Such a change is either the
        person's own edit, its ``didChange`` debounced past their save (whose save hint follows
        at once), or the editor's reload of another program's change (no hint follows): the
        adapter holds it until it knows which (see docs/lsp.md)."""
        path = self._normalise(path)
        root = self._root_of(path)
        if root is None or self._private(path):
            return False
        try:
            if os.stat(path).st_size != len(text.encode("utf-8")):
                return False
        except OSError:
            return False
        with self._lock:
            document = self._documents.get(path)
            if document is None or text == document.chain.base or self._unsaved_in(document, changes):
                return False
            if self._baselines.text(self._baselines.get(path)) == text:
                return False  # decided already (:meth:`is_reload`), or the buffer's own last save
        return root.rules.read(path).text == text

    @staticmethod
    def _unsaved_in(document: _Document, changes: Sequence[TextChange]) -> bool:
        """Whether ``changes`` touch the person's unsaved text: where the buffer differs from what
        it last saved or loaded. A buffer whose edits were undone back to that text is clean, as
        the editor says (VS Code and Neovim reload it then); a save not confirmed yet leaves it
        all unsaved. Neither editor reloads a modified buffer on its own (VS Code keeps it and
        asks on save, Neovim warns, W12): a change over unsaved text is the person's."""
        if document.hints:
            return True
        span = document.chain.unsaved_span()
        return span is not None and touches_span(*span, changes)

    def save_document(self, path: Path) -> None:
        """Hint: the editor saved (or is about to save) ``path``. The ``file_save`` is recorded
        when the watcher sees the write and the buffered edits explain it."""
        path = self._normalise(path)
        with self._lock:
            document = self._documents.get(path)
            if document is not None:
                if document.saved_stamp is not None and stamp_of(path) == document.saved_stamp:
                    # No edit and no write since the buffer's last save was decided: this is that
                    # save's hint, come after the edits explained the write (Neovim sends it after
                    # a prompt such as "the file has been changed since reading it").
                    return
                document.hints.append((self.session.now_ms(), len(document.chain.edits)))

    def close_document(self, path: Path) -> None:
        """The editor closed ``path``; returns at once. A save made just before (``:wq``: a hint
        not yet confirmed, or the file's events still waiting) is still decided against the
        buffer by the worker, which then records the ``file_close`` — so that the journal has the
        save before the close — or after ``SAVE_HINT_TTL_MS`` if no write ever came."""
        path = self._normalise(path)
        if self._private(path):
            return
        with self._lock:
            document = self._documents.pop(path, None)
            if document is not None and (document.hints or self._inbox.waiting(path)):
                self._closing[path] = (document, self.session.now_ms() + SAVE_HINT_TTL_MS)
                self._inbox.wake()
                return
            self._record_close(path)
            if document is not None:
                self._publish_documents()

    def _document_of(self, path: Path) -> _Document | None:
        """Worker: the open document, or one closed while its last save is being decided."""
        document = self._documents.get(path)
        if document is None and path in self._closing:
            document = self._closing[path][0]
        return document

    def _record_close(self, path: Path) -> None:
        if self._closing.pop(path, None) is not None:
            self._publish_documents()
            self._documents_changed.notify_all()
        self.session.record(FileClose(file=self.session.relpath(path)))

    def _close_decided(self, final: bool) -> float | None:
        """Worker: record the closes whose saves are decided (or given up); returns the seconds
        until the next one is due, if any is still waiting. ``final``: the final pass has decided
        every change, the rest close now. (Not :attr:`_stopping`, which ``close`` may set while a
        save still waits for its editor: closing the document then would leave that save to be
        decided without its buffer, as someone else's change.)"""
        if not self._closing:
            return None
        now = self.session.now_ms()
        with self._lock:
            for path, (document, deadline) in list(self._closing.items()):
                if now >= deadline or final or not (document.hints or self._inbox.waiting(path)):
                    self._record_close(path)
            deadlines = [deadline for _, deadline in self._closing.values()]
        return (min(deadlines) - now) / 1000 if deadlines else None

    def drain(self, timeout: float = 10.0, grace: float = 0.1) -> bool:
        """Wait until every file change made before the call has been decided (tests, shutdown).

        ``grace`` lets the kernel's notifications of the latest writes reach the watcher first.
        """
        if not self._scanned.wait(timeout):
            return False
        deadline = time.monotonic() + timeout
        time.sleep(grace)
        while True:
            if not self._inbox.idle(max(deadline - time.monotonic(), 0)):
                return False
            quiet = time.monotonic() - self._last_event
            if quiet >= grace:
                return True
            time.sleep(grace - quiet)

    def close(self) -> None:
        """Stop watching; decide what is pending (without waiting out the windows)."""
        if self._stopping:
            return
        if self._watcher is None:
            self._close_documents()
            return
        self._watcher.stop()
        with self._lock:
            # A write the watcher reports a moment after it (``:wq`` then quit; another program's
            # change just before) is no longer reported: the files the editor holds are decided
            # from the disk as it is now, in the final pass (an unchanged one records nothing).
            now = self.session.now_ms()
            for path in [*self._documents, *self._closing]:
                if not self._inbox.waiting(path):
                    self._inbox.add(path, now, None)
        self._stopping = True
        self._inbox.post(_Stop())
        self._worker.join(timeout=30)
        if self._handover is not None:
            self._handover.close()

    def _close_documents(self) -> None:
        """An editor that does not own the workspace: a save it just made (``:wq``) is the
        owner's to see on disk and to ask about; give it that long, then close the rest."""
        self._stopping = True
        with self._lock:
            self._documents_changed.wait_for(lambda: not self._closing, CLOSING_WAIT_S)
            for path in list(self._closing):
                self._record_close(path)
        self._inbox.post(_Stop())
        self._worker.join(timeout=30)

    def __enter__(self) -> Attribution:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- snapshots --------------------------------------------------------------------------------

    def snapshot(self) -> str | None:
        """Snapshot the workspace as last seen on disk; returns the snapshot id (``None`` when
        snapshots are disabled, or when the worker is busy past ``SNAPSHOT_WAIT_S`` or closed).
        Records a ``workspace_snapshot`` event — on the worker: another thread asks it."""
        if not self._snapshots_enabled:
            return None
        if threading.current_thread() is self._worker:
            return self._take_snapshot()
        if not self._worker.is_alive():
            return None
        reply: Future[str | None] = Future()
        self._inbox.post(_Snapshot(reply))
        try:
            return reply.result(timeout=SNAPSHOT_WAIT_S)
        except TimeoutError:
            return None

    def _take_snapshot(self) -> str | None:
        with self._lock, self.session.panic_lock:
            # A panic posted before this point has removed the snapshot this one could be a
            # delta of: apply it first (the panic posts under the panic lock held here).
            for panic in self._inbox.messages(_Panic):
                assert isinstance(panic, _Panic)
                self._forget_since(panic)
            self._baselines.flush()
            files: dict[str, str] = {}
            skipped: dict[str, str] = {}
            total = 0
            for path, baseline in sorted(self._baselines.items(), key=lambda item: str(item[0])):
                rel = self.session.relpath(path)
                if baseline.sha is None:
                    skipped[rel] = str(baseline.skip or Skip.UNREADABLE)
                elif total + baseline.size > self._snapshot_max_bytes:
                    skipped[rel] = "total_cap"
                else:
                    files[rel] = baseline.sha
                    total += baseline.size
            self._snapshot_count += 1
            snapshot_id = f"{self.session.id}-{self._snapshot_count:04d}"
            manifest = Manifest(files, skipped, self.session.id, self.session.now_ms())
            if self._last_snapshot is not None:
                parent, previous = self._last_snapshot
                self._store.write(snapshot_id, manifest.delta(previous, parent))
            else:
                self._store.write(snapshot_id, manifest)
            self._last_snapshot = (snapshot_id, files)
            self._unpublished = {p for p in self._unpublished if self.session.relpath(p) not in files}
            event = self.session.snapshot(snapshot_id)
            self._snapshots_taken.append((snapshot_id, event.timestamp, event.sequence))
            return snapshot_id

    def _on_panic(self, cutoff: int) -> None:
        """The session's panic hook (inside its locks, on whichever thread pressed the button):
        it only posts the cut to the worker, which deletes the removed snapshots."""
        self._inbox.post(_Panic(cutoff, self.session.sequence))

    def _forget_since(self, panic: _Panic) -> None:
        """Worker: delete the snapshots the panic removed from the journal (recorded from its
        cut to its marker) and the blobs only they held."""
        with self._lock:
            removed = [sid for sid, ts, seq in self._snapshots_taken if ts >= panic.cutoff and seq <= panic.upto]
            self._snapshots_taken = [taken for taken in self._snapshots_taken if taken[0] not in removed]
            if removed:
                self._last_snapshot = None  # the next snapshot is complete, not a delta of a removed one
            self._store.delete(removed, since_ms=panic.cutoff, keep=self._baselines.shas())

    def _batch_ended(self) -> bool:
        """No agent batch is open: none began yet, or the person acted since its snapshot."""
        return self._batch_snapshot == 0 or self.session.last_user_action(_BATCH_ENDERS) > self._batch_snapshot

    # --- the watcher side -------------------------------------------------------------------------

    def _on_path(self, path: Path, is_dir: bool, gone: bool) -> None:
        """Watchdog thread: filter, stamp and queue one event."""
        self._last_event = time.monotonic()
        now = self.session.now_ms()
        for git in self._gits:
            if git.owns(path):
                git.on_git_event(path, now, gone)
                self._inbox.wake()
                return
        path = self._as_given(path)
        root = self._root_of(path)
        if root is None:
            return
        if not is_dir and self._inbox.touch(path, now):
            return  # already waiting (and so already checked against the rules): coalesced
        if path.name in (".gitignore", ".crowdcodeignore"):
            root.rules.invalidate(path.parent)
            if self._watcher is not None:
                with contextlib.suppress(OSError):  # a watch not made: the rest goes on
                    self._watcher.reconsider(path.parent)
        if root.rules.ignored(path, is_dir=is_dir) is not None:
            return
        activity = self._git_of(path, root)
        operation = activity.sample(now) if activity is not None else None
        if is_dir:
            self._queue_directory(root, path, now, operation)
        else:
            self._inbox.add(path, now, operation)

    def _left_out(self, directory: Path) -> bool:
        """Watcher thread: whether the kernel need not watch ``directory`` (:mod:`.coverage`):
        an ignored directory, unless git's own, whose events are git activity."""
        if any(git.owns(directory) for git in self._gits):
            return False
        directory = self._as_given(directory)
        root = self._root_of(directory)
        return root is not None and root.rules.ignored(directory, is_dir=True) is not None

    def _as_given(self, path: Path) -> Path:
        """A path the watcher reports (under a root's real directory) under the root as given."""
        for real, given in self._aliases:
            if path.is_relative_to(real):
                return given / path.relative_to(real)
        return path

    def _queue_directory(self, root: _Root, directory: Path, now: int, operation: Operation | None) -> None:
        """A directory appeared, vanished or moved: queue its files as known and as found now."""
        with self._lock:
            known = self._baselines.under(directory)
        found = list(root.rules.walk(directory)) if directory.is_dir() else []
        for path in {*known, *found}:
            self._inbox.add(path, now, operation)

    def _normalise(self, path: Path | str) -> Path:
        """An adapter's path as the watcher reports it: under the root as given, even when the
        adapter resolved symbolic links the root was given with (or the other way round)."""
        path = Path(path)
        if self._root_of(path) is not None:
            return path
        resolved = path.resolve()
        for root in self._roots:
            real = root.path.resolve()
            if resolved.is_relative_to(real):
                return root.path / resolved.relative_to(real)
        return path

    def _root_of(self, path: Path) -> _Root | None:
        text = str(path)
        for root in self._roots:  # deepest first
            prefix = str(root.path)
            if text.startswith(prefix) and (len(text) == len(prefix) or text[len(prefix)] == "/"):
                return root
        return None

    def _private(self, path: Path) -> bool:
        root = self._root_of(path)
        if root is None:
            return is_secret(path.name)
        return root.rules.ignored(path) is not None

    # --- the worker -------------------------------------------------------------------------------

    def _run(self) -> None:
        """The worker. Until its session owns the workspace (:meth:`watch`) it only answers
        messages; then it scans and decides the file events as well, until :meth:`close`."""
        while self._watcher is None:
            if self._serve():
                return
            self._inbox.wait(None)
        try:
            self._scan()
        finally:
            self._scanned.set()
        while True:
            self._serve()
            stopping = self._stopping
            ready = self._inbox.take(self._ready_or_stopping)
            if ready:
                try:
                    self._decide(ready, final=stopping)
                    self._note_handover()
                except Exception:  # one bad file must not stop attribution
                    _log.exception("attribution failed")
                finally:
                    self._inbox.done()
                self._close_decided(stopping)
                continue
            due = self._close_decided(stopping)
            if stopping:
                return
            waiting = self._inbox.preparable(self.session.now_ms(), PREPARE_QUIET_MS, PREPARE_BATCH)
            if waiting:
                for entry in waiting:
                    try:
                        self._prepare(entry)
                    except Exception:
                        _log.exception("attribution could not prepare %s", entry.path)
                        entry.prepared = None
                continue
            self._inbox.wait(due)

    def _serve(self) -> bool:
        """Worker: act on the messages posted so far, in order; ``True`` if one says stop."""
        stop = False
        for message in self._inbox.messages():
            try:
                if isinstance(message, _Explain):
                    self._reply(message)
                elif isinstance(message, _Panic):
                    self._forget_since(message)
                elif isinstance(message, _Snapshot):
                    if message.reply.set_running_or_notify_cancel():
                        try:
                            message.reply.set_result(self._take_snapshot())
                        except Exception as exc:
                            message.reply.set_exception(exc)
                            raise
                elif isinstance(message, _Stop):
                    stop = True
            except Exception:  # a failed answer must not stop the worker
                _log.exception("attribution could not act on %r", message)
        self._inbox.served()
        return stop

    def _prepare(self, entry: Pending) -> None:
        """Read a waiting file and diff it against its baseline ahead of the verdict, so that the
        files of a long git operation are recorded right after it ends."""
        last = entry.last
        root = self._root_of(entry.path)
        if root is None:
            return
        stamp = stamp_of(entry.path)
        content = root.rules.read(entry.path)
        new = self._baselines.of(content)
        with self._lock:
            old = self._baselines.get(entry.path)
        old_text = self._baselines.text(old) if old is not None and old.exists else None
        diff = None
        if old_text is not None and content.text is not None:
            diff = unified_diff(old_text, content.text, self.session.relpath(entry.path))
        entry.prepared = Prepared(last, stamp, content, new, old.sha if old is not None else None, old_text, diff)

    def _add_repository(self, worktree: Path) -> None:
        """A nested repository or submodule found by the scan: its git operations explain the
        files below it (the enclosing repository's do not)."""
        repo = find_repo(worktree)
        if repo is None or repo.worktree != worktree or any(g.repo.git_dir == repo.git_dir for g in self._gits):
            return
        git = GitActivity(repo)
        self._gits = _by_depth([*self._gits, git])
        self._nested = sorted([*self._nested, (str(worktree), git)], key=lambda item: len(item[0]), reverse=True)
        assert self._watcher is not None  # the scan runs on the worker, once watching
        for directory in repo.watch_dirs():  # left out of the workspace's watches until now
            self._watcher.add(directory)

    def _git_of(self, path: Path, root: _Root | None) -> GitActivity | None:
        text = str(path)
        for prefix, git in self._nested:
            if text.startswith(prefix + "/"):
                return git
        return root.git if root is not None else None

    def _scan(self) -> None:
        for root in self._roots:
            for path in root.rules.walk(on_repository=self._add_repository):
                if self._stopping:
                    return
                read_at = self.session.now_ms()
                baseline = self._baselines.of(root.rules.read(path))
                with self._lock:
                    if self._baselines.get(path) is None:
                        self._baselines.set(path, baseline)
                        self._scan_reads[path] = read_at
        self._scan_end = self.session.now_ms()
        if self._handover is not None and not self._stopping:
            self._take_over(self._handover, self._restate())
        if self._baselines and not self._stopping:
            with contextlib.suppress(Exception):
                self.snapshot()  # the start state, so that a replay can begin anywhere

    def _restate(self) -> set[Path]:
        """Taking over: each file whose disk text this session's journal states otherwise than
        the disk now holds changed while another session owned the workspace (which recorded it,
        or died first). Record it known by its content id, as the journal holds neither text
        (the first snapshot gives it); return those files."""
        restated = set()
        with self._lock:
            stated, self._stated = self._stated, {}
            for path, sha in stated.items():
                baseline = self._baselines.get(path)
                if baseline is not None and baseline.sha == sha:
                    continue
                text = self._baselines.text(baseline) if baseline is not None else None
                facts = content_facts(text, baseline.sha) if baseline is not None and text is not None else None
                change_type = ChangeType.CHANGE if baseline is not None else ChangeType.DELETE
                detail = "changed while another session owned the workspace"
                self._record_change(path, change_type, None, facts, Verdict(Source.UNKNOWN, Evidence(detail=detail)))
                restated.add(path)
        return restated

    def _take_over(self, state: KnownState, restated: set[Path]) -> None:
        """Become the workspace's owner: with ``resume`` (a live owner exited or died while this
        session waited), record what changed since the old owner's last recorded change (but for
        the ``restated`` files, recorded already); then start this owner's own hand-over state."""
        root = self._roots[0]
        with self._lock:
            now = {self._key(root, path): (path, baseline) for path, baseline in self._baselines.items()}
            if self._resume:
                old = state.load(root.path)
                for key in sorted(old.keys() | now.keys()):
                    path, baseline = now.get(key, (root.path / key, None))
                    before = old.get(key)
                    if before is None and baseline is None:
                        continue
                    if before is not None and baseline is not None and _known(baseline) == before:
                        continue
                    if path in restated:
                        self._scan_reads.pop(path, None)
                        continue
                    self._record_missed(path, before, baseline)
                    # The scan read it after the change: its watcher event has nothing left to say.
                    self._scan_reads.pop(path, None)
            workspace = self.session.workspace or root.path
            state.rewrite(
                {key: _known(baseline) for key, (_, baseline) in now.items()},
                self.session.directory,
                workspace,
                self.session.sequence,
            )
            self._baselines.changed = set()

    def _record_missed(self, path: Path, before: Known | None, after: Baseline | None) -> None:
        """A change no owner saw happen: its source is unknown, its diff is exact."""
        rel = self.session.relpath(path)
        old_text: str | None = ""
        if before is not None:
            data = self._baselines.blobs.get(before.sha) if before.sha is not None else None
            old_text = data.decode("utf-8") if data is not None else None
        new_text = self._baselines.text(after) if after is not None else ""
        if after is None:
            change_type = ChangeType.DELETE
        elif before is None:
            change_type = ChangeType.CREATE
        else:
            change_type = ChangeType.CHANGE
        diff = None
        if old_text is not None and new_text is not None:
            diff = unified_diff(
                old_text,
                new_text,
                rel,
                created=change_type is ChangeType.CREATE,
                deleted=change_type is ChangeType.DELETE,
            )
        facts = content_facts(new_text, after.sha) if after is not None and new_text is not None else None
        detail = "changed while the workspace's capture passed to this session"
        self._record_change(path, change_type, diff, facts, Verdict(Source.UNKNOWN, Evidence(detail=detail)))

    def _note_handover(self) -> None:
        """Tell a future owner what this one recorded, once its journal holds it."""
        if self._handover is None or not self._baselines.changed:
            return
        root = self._roots[0]
        with self._lock:
            changed, self._baselines.changed = self._baselines.changed, set()
            notes = {}
            for path in changed:
                baseline = self._baselines.get(path)
                notes[self._key(root, path)] = _known(baseline) if baseline is not None else None
        sequence = self.session.sequence  # this worker alone records file changes: all are noted
        self.session.flush()
        self._handover.note(notes, sequence)

    @staticmethod
    def _key(root: _Root, path: Path) -> str:
        return path.relative_to(root.path).as_posix()

    def _ready_or_stopping(self, entry: Pending) -> bool:
        return self._stopping or self._ready(entry)

    def _ready(self, entry: Pending) -> bool:
        now = self.session.now_ms()
        if now < entry.not_before:
            return False
        root = self._root_of(entry.path)
        git = self._git_of(entry.path, root)
        if git is None:
            return now >= entry.last + FORWARD_MS
        return git.settled(entry.operation, entry.last, now)

    def _decide(self, entries: list[Pending], *, final: bool) -> None:
        terminals = self._evidence.entries()
        if not final:
            entries, asked = self._after_terminals(entries, terminals)
            if asked:  # what they published while they were asked
                terminals = self._evidence.entries()
        reads = {}
        for entry in entries:
            entry.recheck(final=final)
            root = self._root_of(entry.path)
            if root is not None:
                prepared = entry.fresh()
                reads[entry.path] = (root, prepared.content if prepared else root.rules.read(entry.path))
        gits = self._git_verdicts(entries, reads)
        # The lock is taken per step, not for the batch: ``_explain`` asks other sessions' editors
        # without it. Nothing an adapter does meanwhile moves what the step after relies on: while
        # watching only this worker sets baselines (an open of a file being decided reads the disk
        # for itself, see ``Inbox.waiting``), and edits that arrive meanwhile follow the write.
        # Each file stops being undecided under the lock that sets its baseline, so an adapter
        # asking (``is_reload``, ``may_be_reload``) sees either both or neither.
        for entry in entries:
            try:
                self._decide_one(entry, reads, gits, terminals, final=final)
            finally:
                with self._lock:
                    self._inbox.decided(entry.path)
        with self._lock:
            self._baselines.flush()

    def _after_terminals(self, entries: list[Pending], registry: list[dict[str, Any]]) -> tuple[list[Pending], bool]:
        """The changes to decide now, and whether a recorded terminal was asked. The rest wait
        (put back) while a recorded terminal working on them (in the live ``registry``) has not
        published the commands it ran until their last event, at most ``BARRIER_WAIT_MS`` after
        their first (see :meth:`.TerminalEvidence.behind`)."""
        now = self.session.now_ms()
        young = [entry for entry in entries if now - entry.first < BARRIER_WAIT_MS]
        files = [(entry.path, root.path) for entry in young if (root := self._root_of(entry.path)) is not None]
        terminals = self._evidence.terminals_on(registry, files)
        if not terminals:
            return entries, False
        moment = max(entry.last for entry in young)
        if not self._off_worker(lambda: self._evidence.behind(terminals, moment)):
            return entries, True
        for entry in young:
            entry.not_before = now + TERMINAL_RETRY_MS
            self._inbox.put_back(entry)
            self._inbox.decided(entry.path)
        return [entry for entry in entries if entry not in young], True

    def _decide_one(
        self,
        entry: Pending,
        reads: dict[Path, tuple[_Root, FileContent]],
        gits: dict[Path, Source],
        terminals: list,
        *,
        final: bool,
    ) -> None:
        if entry.path not in reads:
            return
        root, content = reads[entry.path]
        prepared = entry.fresh()
        with self._lock:
            new = prepared.new if prepared else self._baselines.of(content, defer=True)
            old = self._baselines.get(entry.path)
        if old is None and not new.exists:
            return  # created and removed unseen (atomic-write temp files, vim's 4913)
        if old is not None and old.same_as(new):
            if self._scan_reads.get(entry.path, -1) >= entry.first:
                # Changed while the initial scan ran, before the scan read it: the change
                # happened, but what it changed is unknown.
                self._scan_reads.pop(entry.path)
                with self._lock:
                    self._attribute(entry, root, None, new, None, terminals, gits.get(entry.path))
                    self._inbox.decided(entry.path)
            else:
                may_wait = self._may_still_wait(entry, final)
                answer = self._explain(
                    entry.path,
                    content.text,
                    None,
                    terminals,
                    may_wait=may_wait,
                    unchanged=True,
                    written_at=_written_at(entry),
                )
                if may_wait and answer is not None and answer.wait:
                    self._wait_for_editor(entry, content.text, False, answer, terminals)
            return
        git_source = gits.get(entry.path)
        created = old is None or not old.exists
        may_wait = not final and git_source is None
        answer = self._explain(
            entry.path,
            content.text,
            new.sha,
            terminals,
            may_wait=may_wait and self._may_still_wait(entry, final),
            settled=entry.deferred,
            written_at=_written_at(entry),
            too_large=new.skip is Skip.TOO_LARGE,
        )
        if may_wait and self._wait_for_editor(entry, content.text, created, answer, terminals):
            return
        with self._lock:
            self._attribute(entry, root, old, new, content.text, terminals, git_source, answer)
            self._inbox.decided(entry.path)

    def _may_still_wait(self, entry: Pending, final: bool) -> bool:
        """Whether the change may wait for an editor once more: not in the final pass, and after
        its first wait only until ``BARRIER_WAIT_MS`` after its first event (a stuck editor)."""
        return not final and (not entry.deferred or self.session.now_ms() - entry.first < BARRIER_WAIT_MS)

    def _git_verdicts(self, entries: list[Pending], reads: dict[Path, tuple[_Root, FileContent]]) -> dict[Path, Source]:
        """git's verdict per file; where only weak signals speak for git (an index refresh, a
        commit), the file must hold exactly what the index holds (one ``git ls-files`` per batch)."""
        found: dict[Path, Source] = {}
        check: dict[GitActivity, list[tuple[Path, Source]]] = {}
        for entry in entries:
            root, _ = reads.get(entry.path, (None, None))
            git = self._git_of(entry.path, root)
            if git is None:
                continue
            verdict = git.verdict(entry.operation, entry.first, entry.last)
            if verdict is None:
                continue
            if verdict.needs_index_match:
                check.setdefault(git, []).append((entry.path, verdict.source))
            else:
                found[entry.path] = verdict.source
        for git, candidates in check.items():
            blobs = git.index_blobs([path for path, _ in candidates])
            for path, source in candidates:
                content = reads[path][1]
                if not content.exists:
                    matches = path not in blobs
                elif content.data is None:
                    matches = True  # too large to hash here: the signals alone decide
                else:
                    matches = blobs.get(path) == blob_id(content.data)
                if matches:
                    found[path] = source
        return found

    def _wait_for_editor(
        self, entry: Pending, text: str | None, created: bool, answer: Answer | None, terminals: list
    ) -> bool:
        """Give an unexplained change one more moment: the adapter's edits or save hint may still
        be on their way (as long as an editor says so), or the open of the buffer the editor just
        wrote (see :meth:`_open_may_follow`)."""
        if answer is None:
            if not self._open_may_follow(entry, text, created, terminals):
                return False
        elif not answer.wait:
            return False
        entry.deferred = True
        entry.not_before = self.session.now_ms() + HINT_WAIT_MS
        self._inbox.put_back(entry)
        return True

    def _open_may_follow(self, entry: Pending, text: str | None, created: bool, terminals: list) -> bool:
        """Whether a change of a file no editor holds may still be explained by an editor's open of
        it that has not arrived. An editor that answers barriers opens the file it writes only
        after the write (``:w other`` and ``:saveas`` report an open, a save and a close once it is
        done), and its adapter may be any time behind the watcher on a busy machine: the change
        waits until the barrier is back (at most ``BARRIER_WAIT_MS``), a new file and a rewritten
        one alike. For any other editor on the workspace, a new file waits once."""
        now = self.session.now_ms()
        with self._lock:
            if (
                self._barrier is not None
                and now - entry.first < BARRIER_WAIT_MS
                and not self._barrier.passed(_written_at(entry), now)
            ):
                return True
        return not entry.deferred and text is not None and created and self._editor_on(entry.path, terminals)

    @staticmethod
    def _break_guessed(document: _Document, text: str) -> bool:
        """Whether a hinted write is explained only by the buffer with its final line break added
        or dropped (see :meth:`_explain_write`). The hint may be an earlier save's and the write
        the next one (``:w``, then ``:set nofixeol noeol`` and ``:w`` on a busy machine), whose
        edit of that line break is still on its way: an editor that answers barriers and reports
        what it loads and writes itself (the Neovim plugin, whose edits carry the break it writes)
        is waited for first, or the break is recorded twice, guessed, then reported. An LSP client
        reports neither: for it the guess is how its saves are explained at all."""
        if document.chain.find(text, include_base=True) is not None:
            return False
        whole = document.chain.text_at(len(document.chain.edits))
        return whole is not None and final_break_variant(whole)[0] == text

    @staticmethod
    def _late(document: _Document, text: str, written_at: int) -> bool:
        """Whether the buffer does not explain the write, or explains it only with edits that
        reached the engine after the write began: the save hint that makes it the person's save
        (an LSP client sends ``didSave`` after its debounced ``didChange``) may still be on its
        way, or it is the editor reloading another program's change."""
        count = document.chain.find(text, include_base=False)
        return count is None or document.chain.edits[count - 1].received > written_at

    def _attribute(
        self,
        entry: Pending,
        root: _Root,
        old: Baseline | None,
        new: Baseline,
        new_text: str | None,
        terminals: list,
        git_source: Source | None,
        answer: Answer | None = None,
    ) -> None:
        path = entry.path
        rel = self.session.relpath(path)
        old_exists = old is not None and old.exists
        prepared = entry.fresh()
        if prepared is not None and old is not None and old.exists and prepared.old_sha == old.sha:
            before = prepared.old_text
        else:
            prepared = None
            before = self._baselines.text(old) if old is not None else None
        old_text = before
        prepared_diff = prepared.diff if prepared is not None else None
        if answer is not None and answer.session is not None and (answer.saved or answer.before is not None):
            # Another session's editor saved: its ``file_save`` is in its own journal. This journal
            # records what the save left on disk, so that every text it diffs from is in it.
            if answer.before is None:
                saved, saved_text = new, new_text
            else:
                saved, saved_text, prepared_diff = self._baselines.of_text(answer.before), answer.before, None
            change_type, diff, facts = self._change(entry, rel, old_exists, before, saved, saved_text, prepared_diff)
            verdict = Verdict(Source.USER, Evidence(detail="saved by the editor of another session"))
            self._record_change(path, change_type, diff, facts, verdict, saved_in=answer.session)
            old_exists, prepared_diff, before = True, None, saved_text
            old_text = before
        if answer is not None and answer.saved:  # the editor wrote its buffer: the user's save
            self._baselines.set(path, new)
            return
        if answer is not None and answer.before is not None:
            # Saved, then changed by someone else before we looked (format on save …). The disk
            # held the saved text first: a snapshot before this change shows it.
            before = answer.before
            self._baselines.set(path, self._baselines.of_text(answer.before))
        change_type, diff, facts = self._change(
            entry, rel, old_exists, before, new, new_text, prepared_diff if before is old_text else None
        )
        verdict = self._verdict(entry, root, change_type, terminals, git_source)
        if verdict.source is Source.AGENT and self._batch_ended():
            self._batch_snapshot = self.session.sequence
            self.snapshot()
        self._record_change(path, change_type, diff, facts, verdict)
        self._baselines.set(path, new)

    def _change(
        self,
        entry: Pending,
        rel: str,
        old_exists: bool,
        before: str | None,
        new: Baseline,
        new_text: str | None,
        prepared_diff: str | None,
    ) -> tuple[ChangeType, str | None, ContentFacts | None]:
        """The change from ``before`` (the text this journal last holds of the file, ``None``:
        unknown) to ``new``: its type, its diff (``prepared_diff`` when read ahead from the same
        text) and the facts of the content after it."""
        if not new.exists:
            change_type = ChangeType.DELETE
        elif old_exists or self._scan_end is None or self._scan_end > entry.first:
            # (a file first seen while the initial scan ran may have existed: its old text is unknown)
            change_type = ChangeType.CHANGE
        else:
            change_type = ChangeType.CREATE
            before = ""
        diff = None
        after = "" if not new.exists else new_text
        if prepared_diff is not None and change_type is ChangeType.CHANGE:
            diff = prepared_diff
        elif before is not None and after is not None:
            diff = unified_diff(
                before, after, rel, created=change_type is ChangeType.CREATE, deleted=change_type is ChangeType.DELETE
            )
        facts = content_facts(new_text, new.sha) if new.exists and new_text is not None else None
        return change_type, diff, facts

    def _explain_write(
        self, path: Path, document: _Document, new_text: str | None, hinted: bool
    ) -> tuple[int, str, str | None] | None:
        """Whether the editor wrote its buffer: the number of chain edits the disk holds, the text
        written and its hash when known. ``new_text`` is ``None`` for a file too large to read as
        text; its bytes' hash is compared with the buffer's instead (any size, never stored).

        An editor may also add or drop the final line break as it writes (see
        :func:`final_break_variant`): a write of the whole buffer that differs from it only there
        is the user's save too, with that difference recorded as an ``edit`` so that a replay of
        the buffer reaches the bytes written."""
        chain = document.chain
        sha = None if new_text is not None else file_content_id(path)

        def matches(text: str) -> bool:
            return text == new_text if new_text is not None else text_sha256(text) == sha

        if new_text is not None:
            count = chain.find(new_text, include_base=hinted)
            if count is not None:
                return count, new_text, None
        elif sha is None:
            return None
        else:
            for count in dict.fromkeys([len(chain.edits), *(n for _, n in document.hints[-1:])]):
                if (count or hinted) and (text := chain.text_at(count)) is not None and matches(text):
                    return count, text, sha
        whole = chain.text_at(len(chain.edits))
        if whole is None or (not chain.edits and not hinted):
            return None
        written, change = final_break_variant(whole)
        if not matches(written):
            return None
        brk = "added" if change.text else "dropped"
        event = self.session.record(
            Edit(
                file=self.session.relpath(path),
                diff=change,
                reason=EditReason.FORMAT,
                source=Source.USER,
                evidence=Evidence(detail=f"the editor {brk} the final line break as it wrote the file"),
            )
        )
        chain.add(change, event.sequence, event.timestamp)
        return len(chain.edits), written, sha

    def _record_change(
        self,
        path: Path,
        change_type: ChangeType,
        diff: str | None,
        facts: ContentFacts | None,
        verdict: Verdict,
        *,
        saved_in: str | None = None,
    ) -> None:
        """Record a ``file_change``; a file whose text it does not carry is unpublished."""
        self.session.record(
            FileChange(
                file=self.session.relpath(path),
                change_type=change_type,
                diff=diff,
                content=facts,
                source=verdict.source,
                evidence=verdict.evidence,
                saved_in=saved_in,
            )
        )
        if diff is None and facts is not None:
            self._unpublished.add(path)
        else:
            self._unpublished.discard(path)

    def _verdict(
        self, entry: Pending, root: _Root, change_type: ChangeType, terminals: list, git_source: Source | None
    ) -> Verdict:
        if git_source is not None:
            return Verdict(git_source, Evidence(detail="git operation in progress"))
        found = self._evidence.verdict(terminals, entry.path, root.path, entry.first, entry.last)
        if found is not None:
            return found
        if change_type is ChangeType.CHANGE:
            return Verdict(Source.AGENT, None)
        return Verdict(Source.UNKNOWN, None)

    # --- the documents of every live editor on the workspace -----------------------------------

    def _explain(
        self,
        path: Path,
        text: str | None,
        sha: str | None,
        terminals: list,
        *,
        may_wait: bool = False,
        unchanged: bool = False,
        settled: bool = False,
        written_at: int = 0,
        too_large: bool = False,
    ) -> Answer | None:
        """Owner: ask the editors holding ``path`` open — this session's, then the other live
        sessions' (:mod:`.documents`) — whether their buffer explains the disk's ``text``; the one
        that does records its ``file_save``. ``None``: no editor holds the file (or it is not text;
        a file too large to read as text, ``text`` ``None``, is explained by its bytes' hash).
        ``settled``: the change already waited once; ``written_at``: when the file was written."""
        if text is None and not too_large:
            return None
        question = Question(path, text, sha, may_wait, unchanged, settled, written_at)
        found = self._answer(question) if self._editor else None
        if found is not None and found.decided:
            return found
        holders = editors_holding(terminals, path, self.session.id)
        if holders:
            found = self._ask_elsewhere(holders, question) or found
        return found

    def _ask_elsewhere(self, holders: list[dict[str, Any]], question: Question) -> Answer | None:
        """Worker, without the engine's lock: ask the editors of other sessions in turn (the
        first that decides answers)."""

        def run() -> Answer | None:
            found = None
            for entry in holders:
                answer = ask(entry, question)
                if answer is not None and answer.decided:
                    return answer
                found = found or answer
            return found

        return self._off_worker(run)

    def _off_worker(self, requests: Callable[[], _T]) -> _T:
        """Worker: make ``requests`` to other sessions on a thread of their own while the worker
        answers its own messages: another session's owner may be asking this one meanwhile."""
        reply: Future[_T] = Future()

        def run() -> None:
            try:
                reply.set_result(requests())
            except BaseException as exc:
                reply.set_exception(exc)
            finally:
                self._inbox.wake()

        threading.Thread(target=run, name="crowdcode-ask", daemon=True).start()
        while not reply.done():
            self._serve()
            self._inbox.wait(0.05)
        return reply.result()

    def _editor_behind(self, question: Question, now: int) -> bool:
        """Whether the question may wait for an editor that answers barriers and has not yet sent
        everything up to the write (a barrier is asked for if none is on its way)."""
        return question.may_wait and self._barrier is not None and not self._barrier.passed(question.written_at, now)

    def _answer(self, question: Question) -> Answer | None:
        """This editor's side of :meth:`_explain` (``None``: the file is not open here)."""
        path, text = question.path, question.text
        with self._lock:
            document = self._document_of(path)
            if document is None:
                return None
            if question.unchanged:
                # The disk content did not change; with a save hint that is a save of an
                # unmodified (or back-to-unmodified) buffer. An editor that answers barriers is
                # waited for: its hint, come after this decision, would be taken for the hint of
                # its next write, which it then did not explain (see below).
                if text is None or (count := document.chain.find(text, include_base=True)) is None:
                    return Answer()
                if document.hints:
                    self._record_save(path, document, count, text)
                elif self._editor_behind(question, self.session.now_ms()):
                    return Answer(wait=True)
                return Answer()
            now = self.session.now_ms()
            document.hints = [(t, n) for t, n in document.hints if now - t <= SAVE_HINT_TTL_MS]
            hinted = bool(document.hints)
            caught_up = False
            if question.may_wait and not hinted and (text is None or self._late(document, text, question.written_at)):
                # (a file too large to read as text waits for its hint too)
                if self._barrier is not None:
                    if not self._barrier.passed(question.written_at, now):
                        return Answer(wait=True)
                    caught_up = True
                elif not question.settled:
                    return Answer(wait=True)
            elif (
                question.may_wait
                and self._barrier is not None
                and self._reports_reloads
                and text is not None
                and self._break_guessed(document, text)
                and not self._barrier.passed(question.written_at, now)
            ):
                return Answer(wait=True)
            # An editor that reports its reloads itself never sends one as edits; any other may.
            reloads_as_edits = caught_up and not self._reports_reloads
            if (
                ((self._barrier is None and question.settled) or reloads_as_edits)
                and not hinted
                and text is not None
                and (count := document.chain.find(text, include_base=False)) is not None
                and document.chain.edits[count - 1].received > question.written_at
            ):
                # The editor reloaded another program's change before it was decided (VS Code does
                # within ~100 ms): its edits are recorded, the change is that program's, no save.
                document.chain.advance(count, text)
                return Answer()
            written = self._explain_write(path, document, text, hinted)
            if written is not None:  # the editor wrote its buffer: the user's save, fully explained
                count, saved_text, sha = written
                self._record_save(path, document, count, saved_text, sha or question.sha)
                return Answer(saved=True)
            if hinted and self._editor_behind(question, now):
                # The hint may be an earlier write's (one that changed nothing on disk, decided
                # before its hint arrived) and this write the editor's next save, whose edits are
                # still on their way: only once they all arrived is "saved, then changed" true.
                return Answer(wait=True)
            if hinted and text is not None:  # saved, then changed by someone else before we looked
                count = document.hints[-1][1]
                saved = document.chain.text_at(count)
                if saved is not None:
                    self._record_save(path, document, count, saved)
                    return Answer(before=saved)
            if not self.watching and text is not None:
                # Another session owns the workspace: no watcher keeps this engine's baselines.
                # The owner's question says what the disk holds now and that this editor did not
                # write it, which is what a reload of the file brings (see :meth:`is_reload`).
                self._baselines.set(path, self._baselines.of_text(text))
            return Answer()

    def _on_explain(self, message: dict[str, Any]) -> dict[str, Any]:
        """Control thread: the workspace's owner in another session asks about a document. The
        question goes to the worker's inbox; this thread only waits for its answer."""
        if not self._worker.is_alive():  # closed: it holds no document any more
            return {"ok": True, "known": False}
        reply: Future[Answer | None] = Future()
        self._inbox.post(_Explain(Question.from_wire(message), reply))
        try:
            answer = reply.result(timeout=ANSWER_WAIT_S)
        except TimeoutError:
            reply.cancel()
            return {"ok": False, "error": "the engine did not answer in time"}
        return {"ok": True, "known": answer is not None, **(answer.to_wire() if answer else {})}

    def _reply(self, message: _Explain) -> None:
        """Worker: answer the owner's question (unless it gave up waiting)."""
        if not message.reply.set_running_or_notify_cancel():
            return
        try:
            message.reply.set_result(self._answer(message.question))
        except Exception as exc:
            message.reply.set_exception(exc)
            raise
        if not self.watching:  # the closes the owner's question settles are recorded now
            self._close_decided(self._stopping)

    def _publish_documents(self) -> None:
        """Registry: the files this editor holds (open, or closed with a save still undecided)."""
        self.session.publish(documents=sorted({str(p) for p in (*self._documents, *self._closing)}))

    def _editor_on(self, path: Path, terminals: list) -> bool:
        """Whether an editor that could be about to open ``path`` runs on its workspace."""
        return self._editor or any(
            "documents" in entry
            and entry.get("sessionId") != self.session.id
            and entry.get("workspace")
            and path.is_relative_to(entry["workspace"])
            for entry in terminals
        )

    def _record_save(self, path: Path, document: _Document, count: int, text: str, sha: str | None = None) -> None:
        """``text`` is what the editor wrote (``sha``: its hash, when the disk's bytes were hashed)."""
        facts = content_facts(text, sha)
        self.session.record(
            FileSave(
                file=self.session.relpath(path), last_edit_sequence=document.chain.sequence_at(count), content=facts
            )
        )
        if not self.watching:
            self._stated[path] = facts.sha256
        document.disk_stamp = _stamp_holding(path, text)
        document.chain.advance(count, text)
        document.saved_stamp = None if document.chain.edits else document.disk_stamp
        document.hints = [(t, n - count) for t, n in document.hints if n > count]

    def _record_reload(self, path: Path, before: str, after: str) -> Event:
        return self.session.record(
            Edit(
                file=self.session.relpath(path),
                diff=minimal_change(before, after),
                reason=EditReason.RELOAD,
                source=Source.UNKNOWN,
                evidence=Evidence(detail="the editor loaded the file's text; the disk change is a file_change"),
            )
        )

    def _implicit_open(self, path: Path) -> _Document | None:
        """An edit of a document the adapter never opened: its buffer started as the disk text."""
        root = self._root_of(path)
        if root is None:
            return None
        baseline = self._baselines.get(path) if self.watching else self._baselines.of(root.rules.read(path))
        text = self._baselines.text(baseline)
        if text is None:
            return None
        document = _Document(EditChain(text))
        self._documents[path] = document
        self._publish_documents()
        return document


def _written_at(entry: Pending) -> int:
    """When the file was last written (epoch ms): its modification time, or when the watcher last
    saw it if that is earlier (the watcher's stamp lags the write on a loaded machine). The kernel
    stamps a write from its tick clock, up to a tick behind the moment of the write: an edit
    received just before the write must not look later than it (``MTIME_GRAIN_MS``).

    The last write, whose text is the one read: an entry gathers every event until it is decided
    (a late event of a write already decided, then the editor's next write), and an editor's
    barrier asked for after the first of them says nothing of the edits and save hint of the next.
    A modification time later than the watcher's last stamp is a write it has not reported yet."""
    try:
        modified = os.stat(entry.path).st_mtime_ns // 1_000_000
    except OSError:
        return entry.last
    return modified + MTIME_GRAIN_MS if modified > entry.last else min(entry.last, modified + MTIME_GRAIN_MS)


def _stamp_holding(path: Path, text: str) -> Stamp | None:
    """The file's stamp if it holds ``text`` (read between two stats that agree; a file of another
    size is not read) or is absent (a new buffer: nothing to reload from), else ``None``: a write
    the watcher has not reported yet is not taken for the text the buffer holds."""
    data = text.encode("utf-8")
    before = stamp_of(path)
    if before == ABSENT_STAMP:
        return before
    if before[1] != len(data):
        return None
    try:
        held = path.read_bytes() == data
    except OSError:
        return None
    return before if held and stamp_of(path) == before else None


def _known(baseline: Baseline) -> Known:
    return Known(baseline.sha, None if baseline.sha is not None else baseline.size)


def _by_depth(gits: Iterable[GitActivity]) -> list[GitActivity]:
    """Deepest git directories first: a submodule's git dir lies inside its superproject's."""
    return sorted(gits, key=lambda g: max(len(str(d)) for d in g.repo.watch_dirs()), reverse=True)


__all__ = ["Attribution"]
