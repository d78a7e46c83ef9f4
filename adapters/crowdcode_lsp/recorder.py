"""What the shim does with each message, independent of pygls: the session, the open documents,
attribution, terminals and the state that observations are made of.

Every client position arrives in the negotiated position encoding and is converted here, through
:class:`crowdcode_sdk.positions.Document`, to the schema's UTF-16 units. A message that cannot be
understood raises :class:`BadParams` (:mod:`.params` reads every notification's params); the
server logs it and goes on.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crowdcode_sdk.attribution import Attribution
from crowdcode_sdk.attribution.ownership import WorkspaceCapture
from crowdcode_sdk.clock import MachineTime
from crowdcode_sdk.config import KEYS, Config
from crowdcode_sdk.consent import CONSENT_TEXT, Consent, recording_allowed, set_consent
from crowdcode_sdk.locations import Locations
from crowdcode_sdk.positions import Encoding, PositionError
from crowdcode_sdk.schema import (
    EditorInfo,
    EditReason,
    Event,
    Evidence,
    FocusChange,
    Position,
    Selection,
    SelectionMode,
    SelectionRange,
    Source,
    TabSwitch,
    TerminalCommand,
    TerminalCommandEnd,
    TerminalFocus,
    TextChange,
    Viewport,
)
from crowdcode_sdk.session import Session, panic_everywhere

from .documents import Documents, OpenDocument, file_path
from .params import BadParams, Point, choice, field, items, span
from .terminals import CommandFacts, Terminals

Range = tuple[Point, Point]
"""``((line, character), (line, character))``: an LSP range, start and end."""

MAX_PENDING_REASONS = 256
BATCH_GAP_MS = 2000
"""Edits by something other than the person (an agent's ``WorkspaceEdit``, a refactoring) less than
this apart, with no edit of the person's in between, are one batch: one snapshot before it."""


@dataclass(frozen=True)
class ChangeNote:
    """What the editor plugin said about the next change of a document (``crowdcode/editReason``)."""

    reason: EditReason | None = None
    source: Source = Source.USER
    evidence: Evidence | None = None


@dataclass(frozen=True)
class HeldChanges:
    """A ``didChange`` that made the buffer the disk's new text over none of the person's unsaved
    text, not recorded yet: the person's edit if the client's next message is a ``willSave`` or
    ``didSave`` of the document, else its reload of another program's change (see
    :meth:`Attribution.may_be_reload`)."""

    uri: str
    path: Path
    changes: list[TextChange]
    text: str


class HeldBack:
    """Timestamps of this session's recent events, to count what is still held back (nothing
    newer than ``privacy.hold_back_s`` may leave the machine)."""

    def __init__(self) -> None:
        self._times: deque[int] = deque()

    def add(self, event: Event) -> None:
        self._times.append(event.timestamp)

    def remove_since(self, cutoff_ms: int) -> None:
        while self._times and self._times[-1] >= cutoff_ms:
            self._times.pop()

    def count(self, now_ms: int, window_ms: int) -> int:
        while self._times and self._times[0] < now_ms - window_ms:
            self._times.popleft()
        return len(self._times)


class Recorder:
    """One client connection's recording state."""

    def __init__(
        self,
        *,
        editor: EditorInfo,
        roots: list[Path],
        encoding: Encoding,
        notify_status: Callable[[dict[str, Any]], None],
        log: Callable[[str], None],
        locations: Locations | None = None,
    ) -> None:
        self.editor = editor
        self.roots = roots
        self.encoding = encoding
        self.locations = locations or Locations.default()
        self.config = Config.load(self.locations)
        self.documents = Documents()
        self.session: Session | None = None
        self.tracker: Attribution | None = None
        self._capture: WorkspaceCapture | None = None
        self.terminals: Terminals | None = None
        self._notify_status = notify_status
        self._log = log
        self._held = HeldBack()
        self._notes: dict[tuple[str, int | None], ChangeNote] = {}
        self._active_uri: str | None = None
        self._last_file_uri: str | None = None  # the last file focused: a tab switch's previous file
        self._outside_edit_ms: int | None = None  # when the current batch of others' edits last grew
        self._last_edit_uri: str | None = None
        self._cursor: dict[str, tuple[int, int]] = {}  # uri -> last cursor (line, UTF-16 character)
        self._visible: dict[str, tuple[int, int]] = {}  # uri -> visible lines (0-based, inclusive)
        self.reports_views = False  # the client sends crowdcode/visibleRanges (VS Code's extension)
        self._active_terminal: str | None = None
        self._commands = CommandFacts()
        self._not_recording_reason: str | None = None
        self._warning: str | None = None
        self._sync: Callable[[Callable[[], None]], None] | None = None
        self._held_changes: HeldChanges | None = None

    def follow_client(self, sync: Callable[[Callable[[], None]], None]) -> None:
        """``sync(done)`` sends the client a request without blocking and calls ``done`` once it
        is answered: the barrier through which attribution waits for the client's late
        ``didSave`` (see :meth:`Attribution.follow_editor` and docs/lsp.md)."""
        self._sync = sync
        if self.tracker is not None:
            self._follow(self.tracker)

    def _follow(self, tracker: Attribution) -> None:
        sync = self._sync
        if sync is not None:
            tracker.follow_editor(lambda token: sync(lambda: self._caught_up(tracker, token)), reports_reloads=False)

    def _caught_up(self, tracker: Attribution, token: int) -> None:
        """The client answered the barrier ``token``: whatever it sent before is in, so changes held
        with no ``didSave`` after them were a reload, recorded before the engine decides."""
        self.settle()
        tracker.editor_caught_up(token)

    def settle(self, saved: str | None = None) -> None:
        """Record the held changes (:class:`HeldChanges`), before the client's next message is
        handled: ``saved`` is the document a ``willSave`` or ``didSave`` is for."""
        held, self._held_changes = self._held_changes, None
        if held is None or self.tracker is None:
            return
        if held.uri == saved:
            self._before_batch(Source.USER)
            for change in held.changes:
                self.tracker.edit(held.path, change)
            self._last_edit_uri = held.uri
        else:
            self.tracker.reload_document(held.path, held.text)

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start a session (unless one runs); documents already open become its baseline."""
        if self.session is not None:
            return
        session = Session(
            adapter="lsp",
            editor=self.editor,
            workspace=self.roots[0] if self.roots else None,
            locations=self.locations,
            config=self.config,
            on_problem=self._log,
        )
        self.session = session
        self._capture = WorkspaceCapture(session, self.roots, editor=True)
        self.tracker = self._capture.engine
        self._follow(self.tracker)
        self.terminals = Terminals(session.directory)
        self._held = HeldBack()
        session.add_listener(self._held.add)
        session.add_panic_hook(self._held.remove_since)
        session.add_panic_hook(self.terminals.remove_since)
        for doc in self.documents:
            if doc.path is not None:
                self.tracker.open_document(doc.path, doc.document.text)
        self.send_status()

    def stop(self, reason: str = "stopped") -> None:
        session, tracker, capture = self.session, self.tracker, self._capture
        if session is None or tracker is None or capture is None:
            return
        self.settle()
        self.session = self.tracker = self.terminals = self._capture = None
        try:
            # Closing each document first lets a save the watcher has not confirmed yet (``:wqa``)
            # be decided against the buffer, so that its file_save is in the journal.
            for doc in self.documents:
                if doc.path is not None:
                    tracker.close_document(doc.path)
            capture.close()
        finally:
            session.close(reason)
        self.send_status()

    def start_if_allowed(self) -> None:
        """Start unless recording is off, the workspace opted out or local storage is full (the
        reason goes into the status and the client's log)."""
        self.config = Config.load(self.locations)
        permission = recording_allowed(self.roots[0] if self.roots else None, self.locations, self.config)
        self._not_recording_reason = permission.reason
        self._warning = permission.warning
        for line in (permission.reason, permission.warning):
            if line:
                self._log(f"crowdcode: {line}")
        if permission:
            self.start()
        else:
            self.send_status()

    # --- status ---------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        hold_back_s = self.config["privacy.hold_back_s"]
        status: dict[str, Any] = {
            "recording": self.session is not None,
            "consent": self.config["consent.status"],
            "holdBackSeconds": hold_back_s,
            "dataDir": str(self.locations.data_dir),
            "positionEncoding": str(self.encoding),
        }
        if self.session is None and self._not_recording_reason:
            status["reason"] = self._not_recording_reason
        if self._warning:
            status["warning"] = self._warning
        if status["consent"] == Consent.PENDING:
            status["consentText"] = CONSENT_TEXT
        if self.session is not None:
            live = self.session.status()
            status.update(
                sessionId=self.session.id,
                startTime=self.session.metadata.start_time,
                events=live["events"],
                heldBack=self._held.count(self.session.now_ms(), hold_back_s * 1000),
                problem=live["problem"],
            )
        return status

    def send_status(self) -> None:
        self._notify_status(self.status())

    # --- documents ------------------------------------------------------------------------------

    def did_open(self, uri: str, text: str, version: int | None) -> None:
        doc = self.documents.open(uri, text, version)
        if doc.path is not None and self.tracker is not None:
            self.tracker.open_document(doc.path, text)

    def did_change(self, uri: str, version: int | None, changes: Iterable[tuple[Range | None, str]]) -> None:
        """Apply content changes: ``(range, text)`` pairs with ``range`` as
        ``((line, character), (line, character))`` in the negotiated encoding, or ``None`` for the
        whole text."""
        doc = self._document(uri)
        note = self._notes.pop((uri, version), None) or self._notes.pop((uri, None), None) or ChangeNote()
        reason = note.reason
        if reason is None and doc.saving:
            reason = EditReason.FORMAT  # between willSave and didSave: format-on-save
        applied: list[TextChange] = []
        try:
            for change_range, text in changes:
                if doc.out_of_sync:
                    break
                try:
                    if change_range is None:
                        change = doc.apply_full(text)
                    else:
                        change = doc.apply_range(*change_range, text, self.encoding)
                except PositionError as exc:
                    doc.out_of_sync = f"change {change_range} does not fit the document: {exc}"
                    raise BadParams(
                        f"{uri}: {doc.out_of_sync}; its edits are not recorded until it is opened again"
                    ) from None
                if change is not None:
                    applied.append(change)
        finally:
            doc.version = version
            self._record_changes(doc, applied, reason, note)

    def _record_changes(
        self, doc: OpenDocument, applied: list[TextChange], reason: EditReason | None, note: ChangeNote
    ) -> None:
        """Record the changes a ``didChange`` applied, as edits or, when they load the disk's new
        text over none of the person's unsaved text, as a reload (a client that does not say so:
        VS Code without the extension's note, Helix …; see :meth:`Attribution.is_reload`)."""
        if doc.path is None or self.tracker is None or not (applied or reason is EditReason.RELOAD):
            return
        if reason is None and note.source is Source.USER and applied and self.tracker.disk_moved(doc.path):
            text = doc.document.text
            if self.tracker.is_reload(doc.path, text, applied):
                reason = EditReason.RELOAD
            elif self._sync is not None and self.tracker.may_be_reload(doc.path, text, applied):
                self._held_changes = HeldChanges(doc.uri, doc.path, applied, text)
                self._sync(self.settle)  # a client that sends nothing more still settles them
                return
        if reason is EditReason.RELOAD:
            self.tracker.reload_document(doc.path, doc.document.text)
            return
        self._before_batch(note.source)
        for change in applied:
            self.tracker.edit(doc.path, change, source=note.source, reason=reason, evidence=note.evidence)
        self._last_edit_uri = doc.uri

    def _before_batch(self, source: Source) -> None:
        """Snapshot the workspace before the first edit of a batch made by something other than
        the person, as crowd-code does before an agent's edits: the batch then replays onto a
        known state even when it spans files the session never saw."""
        if self.session is None or self.tracker is None:
            return
        if source is Source.USER:
            self._outside_edit_ms = None
            return
        now = self.session.now_ms()
        if self._outside_edit_ms is None or now - self._outside_edit_ms > BATCH_GAP_MS:
            self.tracker.snapshot()
        self._outside_edit_ms = now

    def will_save(self, uri: str) -> None:
        # (A client flushes its debounced changes before it says it saves: those are the person's.)
        self.settle(saved=uri)
        self._document(uri).saving = True

    def did_save(self, uri: str) -> None:
        self.settle(saved=uri)
        doc = self._document(uri)
        doc.saving = False
        if doc.path is None or self.tracker is None:
            return
        self.tracker.save_document(doc.path)

    def did_close(self, uri: str) -> None:
        doc = self.documents.close(uri)
        self._cursor.pop(uri, None)
        self._visible.pop(uri, None)
        if doc is not None and doc.path is not None and self.tracker is not None:
            self.tracker.close_document(doc.path)

    def folders_changed(self, added: list[Path], removed: list[Path]) -> None:
        """Workspace folders changed. The session keeps the workspace it started with (its
        metadata is written at start); the folders count for the next session."""
        self.roots = [root for root in self.roots if root not in removed] + [p for p in added if p not in self.roots]
        self._log(f"workspace folders: {', '.join(map(str, self.roots)) or 'none'}")

    def _document(self, uri: str) -> OpenDocument:
        doc = self.documents.get(uri)
        if doc is None:
            raise BadParams(f"{uri} is not open")
        return doc

    # --- what the editor plugin adds ------------------------------------------------------------

    def edit_reason(self, params: Any) -> None:
        """``crowdcode/editReason``: the next change of ``uri`` (of ``version``, when given) has this
        reason and source."""
        uri = field(params, "uri", str)
        version = field(params, "version", int, optional=True)
        reason = choice(params, "reason", EditReason)
        source = choice(params, "source", Source) or Source.USER
        detail = field(params, "detail", str, optional=True)
        evidence = Evidence(detail=detail) if detail else None
        if len(self._notes) >= MAX_PENDING_REASONS:
            del self._notes[next(iter(self._notes))]
        self._notes[(uri, version)] = ChangeNote(reason, source, evidence)

    def selection(self, params: Any) -> None:
        """``crowdcode/selection``: the selections, primary first; with several cursors, all of them
        go into ``selections``."""
        doc = self._document(field(params, "uri", str))
        cursors = [span(item, where, "anchor", "active") for where, item in items(params, "selections")]
        if not cursors:
            raise BadParams("selections: expected at least one selection")
        mode = choice(params, "mode", SelectionMode)
        offsets = [(self._index(doc, anchor), self._index(doc, active)) for anchor, active in cursors]
        anchor_at, active_at = offsets[0]
        document = doc.document
        active = document.position_at(active_at)
        self._cursor[doc.uri] = (active.line, active.character)
        if self.session is None or doc.path is None:
            return
        lo, hi = sorted((anchor_at, active_at))
        typed_here = len(offsets) == 1 and lo == hi and self._last_edit_uri == doc.uri
        self._last_edit_uri = None
        if not typed_here:
            # A bare cursor right after an edit in the same file is where typing put it: only the
            # observation records it (crowd-code's rule).
            self.session.record(
                Selection(
                    file=self.session.relpath(doc.path),
                    selection_start=document.position_at(lo),
                    selection_end=document.position_at(hi),
                    selected_text=document.slice(lo, hi),
                    cursor_position=active,
                    mode=mode,
                    selections=[
                        SelectionRange(anchor=document.position_at(a), active=document.position_at(b))
                        for a, b in offsets
                    ]
                    if len(offsets) > 1
                    else None,
                )
            )
        self._observe()

    def visible_ranges(self, params: Any) -> None:
        """``crowdcode/visibleRanges``: the lines an editor shows, from the first line of the first
        range to the last line of the last (folded lines in between count as shown)."""
        doc = self._document(field(params, "uri", str))
        ranges = [span(item, where) for where, item in items(params, "ranges")]
        if not ranges:
            return
        lines = [line for start, end in ranges for line in (start[0], end[0])]
        last = doc.document.line_count - 1
        self._visible[doc.uri] = (min(min(lines), last), min(max(lines), last))
        self.reports_views = True
        self._active_uri = self._active_uri or doc.uri
        self._observe()

    def active_editor(self, params: Any) -> None:
        """``crowdcode/activeEditor``: ``uri`` is the focused editor's document, or null (focus in
        a panel, or VS Code's transient null between two editors). A tab switch's previous file is
        the last file focused before it, across nulls; coming back to it after a null is no switch."""
        uri = field(params, "uri", str, optional=True)
        self._active_uri = uri
        path = file_path(uri) if uri is not None else None
        if path is None or uri == self._last_file_uri:
            return
        previous, self._last_file_uri = self._last_file_uri, uri
        if self.session is None:
            return
        previous_path = file_path(previous) if previous else None
        self.session.record(
            TabSwitch(
                file=self.session.relpath(path),
                previous_file=self.session.relpath(previous_path) if previous_path else None,
            )
        )
        self._observe()

    def focus(self, params: Any) -> None:
        """``crowdcode/focus``: the editor window gained or lost focus."""
        focused = field(params, "focused", bool)
        if self.session is not None:
            self.session.record(FocusChange(focused=focused))

    def terminal_focus(self, params: Any) -> None:
        terminal_id, name = field(params, "terminalId", str), field(params, "name", str, optional=True)
        self._active_terminal = terminal_id
        if self.session is None or self.terminals is None:
            return
        state = self.terminals.get(terminal_id, name)
        self.session.record(TerminalFocus(terminal_id=terminal_id, terminal_name=state.name))
        self._observe(editor=False)

    def terminal_command(self, params: Any) -> None:
        terminal_id, name = field(params, "terminalId", str), field(params, "name", str, optional=True)
        command = field(params, "command", str)
        cwd = field(params, "cwd", str, optional=True)
        if self.session is None or self.terminals is None:
            return
        state = self.terminals.get(terminal_id, name)
        state.command, state.started = command, self.session.now_ms()
        state.feed(f"$ {command}\n")
        directory = cwd or (str(self.session.workspace) if self.session.workspace else None)
        if directory is not None:
            self.session.publish(**self._commands.started(terminal_id, command, directory, state.started))
        self.session.record(
            TerminalCommand(
                terminal_id=terminal_id, terminal_name=state.name, command=command, cwd=self._anonymous(cwd)
            )
        )

    def terminal_command_end(self, params: Any) -> None:
        terminal_id, name = field(params, "terminalId", str), field(params, "name", str, optional=True)
        exit_code = field(params, "exitCode", int, optional=True)
        command = field(params, "command", str, optional=True)
        cwd = field(params, "cwd", str, optional=True)
        if self.session is None or self.terminals is None:
            return
        state = self.terminals.get(terminal_id, name)
        now = self.session.now_ms()
        self.session.record(
            TerminalCommandEnd(
                terminal_id=terminal_id,
                terminal_name=state.name,
                command=command or state.command,
                exit_code=exit_code,
                cwd=self._anonymous(cwd),
                duration_ms=now - state.started if state.started is not None else None,
            )
        )
        state.command = state.started = None
        self.session.publish(**self._commands.ended(terminal_id, now))

    def terminal_output(self, params: Any) -> None:
        terminal_id, name = field(params, "terminalId", str), field(params, "name", str, optional=True)
        data = field(params, "data", str)
        if self.session is None or self.terminals is None:
            return
        self.terminals.output(terminal_id, name, data, self.session.now_ms())
        if terminal_id == self._active_terminal:
            self._observe(editor=False)

    def panic(self) -> dict[str, Any]:
        """``crowdcode/panic``: crowd-code's escalating panic button, across all live sessions."""
        if self.session is not None:
            report = self.session.panic()
        else:
            report = panic_everywhere(self.locations, MachineTime.now())
        self.send_status()
        return {
            "removed": report.removed,
            "presses": report.presses,
            "reachSeconds": report.presses * 10,
            "sessions": report.sessions,
        }

    def consent(self, params: Any) -> None:
        """``crowdcode/consent``: the person's answer to the consent question."""
        status = field(params, "status", str)
        if status not in KEYS["consent.status"].choices:
            raise BadParams(f"status: expected one of {', '.join(KEYS['consent.status'].choices)}, got {status!r}")
        set_consent(status, self.locations)
        self.config = Config.load(self.locations)
        self.send_status()

    def set_recording(self, params: Any) -> None:
        """``crowdcode/setRecording``: start or stop recording (this connection only)."""
        if field(params, "recording", bool):
            self.start_if_allowed()
        else:
            self.stop("stopped by the user")

    # --- helpers --------------------------------------------------------------------------------

    def _index(self, doc: OpenDocument, position: Point) -> int:
        try:
            return doc.offset(*position, self.encoding)
        except PositionError as exc:
            raise BadParams(f"{doc.uri}: {exc}") from None

    def _anonymous(self, path: str | None) -> str | None:
        return self.session.relpath(Path(path)) if path and self.session is not None else path

    def _observe(self, *, editor: bool = True) -> None:
        """Offer what the person sees now to the session's sampler (rate-limited, changes only).
        ``editor``: the editor's state is what changed (not a terminal's)."""
        if self.session is None:
            return
        if editor and self.reports_views and self._active_uri is not None and self._active_uri not in self._visible:
            # A client that reports what its editors show has not yet reported this one (VS Code
            # sends a newly focused editor's lines up to a throttle interval after the focus): its
            # view comes then, not the cursor's line in its place.
            return
        terminal = None
        if self._active_terminal is not None and self.terminals is not None:
            terminal = self.terminals.get(self._active_terminal).viewport()
        self.session.sample(viewport=self._viewport(), active_terminal=terminal)

    def _viewport(self) -> Viewport | None:
        uri = self._active_uri
        doc = self.documents.get(uri) if uri else None
        if doc is None or doc.path is None or self.session is None:
            return None
        document = doc.document
        last = document.line_count - 1
        line, character = self._cursor.get(doc.uri, (0, 0))
        first_line, last_line = self._visible.get(doc.uri, (line, line))
        first_line, last_line = min(first_line, last), min(last_line, last)
        return Viewport(
            file=self.session.relpath(doc.path),
            start_line=first_line + 1,
            end_line=last_line + 1,
            content="\n".join(document.line(n) for n in range(first_line, last_line + 1)),
            cursor_position=Position(line=min(line, last), character=character),
        )
