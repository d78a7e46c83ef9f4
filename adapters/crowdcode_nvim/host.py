"""The pynvim host: turns the Lua plugin's notifications into the core's actions and observations.

Everything arrives as notifications (the editor never waits for this process): ``crowdcode_hello``
starts the session, ``crowdcode_events`` carries batches of editor events in the order they
happened, ``crowdcode_command`` the user's commands, ``crowdcode_stop``/``crowdcode_bye`` end it.
Answers go back the same way, as asynchronous calls of ``require('crowdcode')._from_host``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crowdcode_sdk.attribution import Attribution, workspace_root
from crowdcode_sdk.attribution.ownership import WorkspaceCapture
from crowdcode_sdk.consent import CONSENT_TEXT, consent_notice_due, consent_status, recording_allowed, set_consent
from crowdcode_sdk.errors import CrowdcodeError
from crowdcode_sdk.ignore import is_secret
from crowdcode_sdk.locations import Locations
from crowdcode_sdk.schema import (
    EditorInfo,
    EditReason,
    FocusChange,
    Position,
    Selection,
    TabSwitch,
    TerminalCommand,
    TerminalCommandEnd,
    TerminalFocus,
    TerminalViewport,
    Viewport,
)
from crowdcode_sdk.session import Session

from .buffers import LINE_BREAKS, Buffer, form_of, minimal_change, screen_position

REASONS = {"undo": EditReason.UNDO, "redo": EditReason.REDO, "paste": EditReason.PASTE}

BUFFER_EVENTS = frozenset({"lines", "reload", "save", "rename", "close", "cursor", "view", "open", "complete"})
"""Events about one buffer's text (the second field is the buffer)."""

ENDS_COMPLETION = frozenset({"lines", "reload", "save", "rename", "close", "complete"})
"""Events after which a completion in progress in their buffer is recorded (a ``lines`` event
only when it is not itself part of the completion)."""

Reply = Callable[[dict[str, Any]], None]


class Host:
    """One Neovim instance's recording. ``reply`` sends a message to the plugin."""

    def __init__(self, reply: Reply, locations: Locations | None = None) -> None:
        self.reply = reply
        self.locations = locations or Locations.default()
        self.session: Session | None = None
        self.capture: WorkspaceCapture | None = None
        self.buffers: dict[int, Buffer] = {}
        self.current_file: str | None = None
        self.current_window: int | None = None
        self.finished = False
        self._resyncing: set[int] = set()
        self._excluded: set[int] = set()  # secret files, buffers that are not UTF-8 text or not files
        self._completing: dict[int, str] = {}  # buffer -> its text before the completion in progress
        self._handlers: dict[str, Callable[..., None]] = {
            "open": self._open,
            "lines": self._lines,
            "reload": self._reload,
            "save": self._save,
            "rename": self._rename,
            "close": self._close,
            "cursor": self._cursor,
            "view": self._view,
            "view_text": self._view_text,
            "enter": self._enter,
            "term_open": self._term_open,
            "term_close": self._term_close,
            "term_view": self._term_view,
            "focus": self._focus,
            "complete": self._complete,
            "synced": self._synced,
        }

    # --- notifications ---------------------------------------------------------------------------

    def notification(self, method: str, args: list[Any]) -> None:
        if method == "crowdcode_events":
            self.events(args[0])
        elif method == "crowdcode_hello":
            self.hello(args[0])
        elif method == "crowdcode_command":
            self.command(*args)
        elif method in ("crowdcode_stop", "crowdcode_bye"):
            self.finish("stopped" if method == "crowdcode_stop" else "editor closed")
            if method == "crowdcode_bye":
                self.reply({"type": "bye"})

    def hello(self, info: dict[str, Any]) -> None:
        if self.session is not None:
            return
        workspace = workspace_root(Path(info.get("cwd") or "."))
        try:
            allowed = recording_allowed(workspace, self.locations)
            if not allowed:
                self._decline(allowed.reason or "recording is off")
                return
            self.session = Session(
                adapter="nvim",
                editor=EditorInfo(name="neovim", version=info.get("version")),
                workspace=workspace,
                locations=self.locations,
                on_problem=lambda message: print(f"crowdcode: {message}", file=sys.stderr, flush=True),
            )
        except CrowdcodeError as exc:  # a broken config or unusable data directory: say so once
            self._decline(f"cannot record: {exc}")
            return
        self.capture = WorkspaceCapture(self.session, watched_roots(workspace), editor=True)
        # The plugin's events arrive in order and it reports every write and reload: a write its
        # edits do not explain yet waits until a token sent back through them says all arrived.
        self.capture.engine.follow_editor(lambda token: self.reply({"type": "sync", "token": token}))
        consent = consent_status(self.locations).value
        ask = consent_notice_due("nvim", self.locations)
        self.reply(
            {
                "type": "ready",
                "session": self.session.id,
                "consent": consent,
                "ask_consent": ask,
                "consent_text": CONSENT_TEXT,
            }
        )
        if allowed.warning:  # local storage nearly full
            self.reply({"type": "message", "text": allowed.warning})

    def _decline(self, why: str) -> None:
        """Tell the plugin to stay inert (it shows ``why`` once); it then stops this process.
        Exiting at once instead could reach Neovim before the message does (a job's exit and
        its channel's messages are handled apart), and look like a crash to restart."""
        self.reply({"type": "disabled", "text": why})

    def events(self, batch: list[list[Any]]) -> None:
        if self.session is None or self.session.closed:
            return
        for event in batch:
            if len(event) > 1 and event[1] in self._excluded and event[0] in BUFFER_EVENTS:
                if event[0] == "close":
                    self._excluded.discard(event[1])
                continue
            if event[0] in ENDS_COMPLETION and event[1] in self._completing and event[5:6] != ["completion"]:
                self._complete(event[1])
            handler = self._handlers.get(event[0])
            if handler is None:
                print(f"crowdcode: unknown editor event {event[0]!r}", file=sys.stderr, flush=True)
                continue
            try:
                handler(*event[1:])
            except (CrowdcodeError, LookupError, ValueError, TypeError) as exc:
                self._lost_track(event, exc)
            except Exception as exc:  # one bad event must not end the recording
                print(f"crowdcode: {event[0]} event failed: {exc!r}", file=sys.stderr, flush=True)

    def _lost_track(self, event: list[Any], exc: Exception) -> None:
        """An event that does not fit the text we hold. A text change means we are out of step:
        forget the buffer and ask the plugin for it again (once)."""
        buf = event[1] if len(event) > 1 and isinstance(event[1], int) else None
        if buf in self._resyncing:
            return
        if event[0] not in ("lines", "reload") or buf is None:
            print(f"crowdcode: ignored a {event[0]} event ({exc})", file=sys.stderr, flush=True)
            return
        print(f"crowdcode: cannot apply a {event[0]} event ({exc}); resynchronising", file=sys.stderr, flush=True)
        self.buffers.pop(buf, None)
        self._resyncing.add(buf)  # until the plugin sends the buffer again
        self.reply({"type": "resync", "buf": buf})

    # --- buffers ---------------------------------------------------------------------------------

    def _path(self, buffer: Buffer) -> Path:
        assert buffer.path is not None  # only files are kept (see _open)
        return buffer.path

    def _events(self) -> Attribution:
        assert self.capture is not None
        return self.capture.engine

    def _secret(self, buf: int, name: str) -> bool:
        """Secret files (.env, keys, credentials: the core's list) are never recorded, not even
        their selections or what the window shows of them."""
        if not name or not is_secret(self.session.relpath(name) if self.session else name):
            return False
        self.buffers.pop(buf, None)
        self._excluded.add(buf)
        return True

    def _not_text(self, buf: int, text: str) -> bool:
        """Text that is not valid UTF-8 (pynvim hands it over with lone surrogates) cannot be
        recorded: such a buffer is left out until it is closed."""
        if text.isascii():
            return False
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            print(f"crowdcode: buffer {buf} is not UTF-8 text; not recorded", file=sys.stderr, flush=True)
            self.buffers.pop(buf, None)
            self._excluded.add(buf)
            return True
        return False

    def _still_text(self, buf: int, text: str) -> Buffer | None:
        """The tracked buffer ``buf`` if its new ``text`` can be recorded; if not, its document is
        closed and the buffer left out (see ``_not_text``)."""
        buffer = self.buffers[buf]
        if self._not_text(buf, text):
            self._events().close_document(self._path(buffer))
            return None
        return buffer

    def _open(
        self,
        buf: int,
        name: str,
        fileformat: str,
        text: str,
        empty: bool = False,
        bom: bool = False,
        noeol: bool = False,
        absent: bool = False,
    ) -> None:
        """``absent``: the file was not on disk when the buffer took it (see ``open_document``)."""
        if self._secret(buf, name) or self._not_text(buf, text):
            return
        buffer = Buffer(buf, name, fileformat, text, form_of(empty, bom, noeol))
        if buffer.path is None:  # the plugin sends files only; a scratch buffer has nothing to rebuild
            self._excluded.add(buf)
            return
        self.buffers[buf] = buffer
        self._resyncing.discard(buf)
        self._completing.pop(buf, None)
        self._events().open_document(self._path(buffer), buffer.text, absent=absent is True)

    def _lines(
        self,
        buf: int,
        first: int,
        last: int,
        text: str,
        reason: Any,
        row: Any,
        col: Any,
        empty: bool = False,
        noeol: bool = False,
    ) -> None:
        buffer = self._still_text(buf, text)
        if buffer is None:
            return
        if reason == "completion":  # one edit when the completion is done: see _complete
            self._completing.setdefault(buf, buffer.text)
        hint = (row, col) if row is not False else None
        change = buffer.replace_lines(first, last, text, hint, empty is True, noeol is True)
        if change is not None and reason != "completion":
            self._events().edit(self._path(buffer), change, reason=REASONS.get(reason))

    def _reload(
        self,
        buf: int,
        text: str,
        reason: Any,
        empty: bool = False,
        bom: bool = False,
        fileformat: Any = None,
        noeol: bool = False,
    ) -> None:
        buffer = self._still_text(buf, text)
        if buffer is None:
            return
        form = form_of(empty, bom, noeol)
        if reason == "disk":  # the file changed on disk; attribution decides whose change it was
            if isinstance(fileformat, str):
                buffer.read_as(fileformat)
            self._events().reload_document(self._path(buffer), buffer.file_text(text, form))
            buffer.reset(text, form)
            return
        line_break = (
            LINE_BREAKS.get(fileformat, buffer.line_break) if isinstance(fileformat, str) else buffer.line_break
        )
        if line_break != buffer.line_break or form.bom != buffer.form.bom:
            # `:set fileformat` or `:set bomb`: every line break, or the mark, of the file changes
            before = buffer.text
            buffer.read_as(str(fileformat))
            buffer.reset(text, form)
            change = minimal_change(before, buffer.text)
        else:  # undoing or redoing a reload: an editor change
            change = buffer.replace_all(text, form.empty, form.noeol)
        if change is not None:
            self._events().edit(self._path(buffer), change, reason=REASONS.get(reason))

    def _synced(self, token: int) -> None:
        self._events().editor_caught_up(token)

    def _save(self, buf: int, written: Any = None) -> None:
        buffer = self.buffers.get(buf)
        if buffer is None:
            return
        if not isinstance(written, str) or Path(written) == buffer.path:
            self._events().save_document(self._path(buffer))
            return
        # `:w other`: the buffer's text written to another file, the buffer unchanged. That file
        # is the person's save: open with the text, saved and closed at once.
        assert self.session is not None
        other = Path(written)
        if not other.is_absolute() or is_secret(self.session.relpath(written)):
            return
        events = self._events()
        events.open_document(other, buffer.text, absent=True)
        events.save_document(other)
        events.close_document(other)

    def _rename(self, buf: int, name: str) -> None:
        buffer = self.buffers.get(buf)
        if buffer is None:
            return
        self._events().close_document(self._path(buffer))
        if self._secret(buf, name):
            return
        buffer.name = name
        if buffer.path is None:
            self.buffers.pop(buf)
            self._excluded.add(buf)
            return
        self._events().open_document(self._path(buffer), buffer.text)

    def _complete(self, buf: int) -> None:
        """An Insert-mode completion ended (or the buffer changed otherwise): the text it replaced
        candidate by candidate becomes one edit with reason ``completion``; nothing if it was
        cancelled back to the text before it."""
        before = self._completing.pop(buf, None)
        buffer = self.buffers.get(buf)
        if before is None or buffer is None:
            return
        change = minimal_change(before, buffer.text)
        if change is not None:
            self._events().edit(self._path(buffer), change, reason=EditReason.COMPLETION)

    def _close(self, buf: int) -> None:
        buffer = self.buffers.pop(buf, None)
        if buffer is not None:
            self._events().close_document(self._path(buffer))

    # --- what the user does and sees -------------------------------------------------------------

    def _file(self, buffer: Buffer) -> str:
        assert self.session is not None
        return self.session.relpath(self._path(buffer))

    def _cursor(self, buf: int, mode: str, row: int, col: int, vrow: Any, vcol: Any, block: Any) -> None:
        buffer = self.buffers.get(buf)
        if buffer is None or self.session is None:
            return
        other_row = vrow if vrow is not False else None
        other_col = vcol if vcol is not False else None
        s = buffer.selection(mode, row, col, other_row, other_col, block if isinstance(block, str) else None)
        self.session.record(
            Selection(
                file=self._file(buffer),
                selection_start=s.start,
                selection_end=s.end,
                selected_text=s.text,
                cursor_position=s.cursor,
                mode=s.mode,
            )
        )

    def _view(self, buf: int, first: int, last: int, row: int, col: int) -> None:
        buffer = self.buffers.get(buf)
        if buffer is None or self.session is None:
            return
        viewport = Viewport(
            file=self._file(buffer),
            start_line=first,
            end_line=max(last, first),
            content=buffer.lines(first, last),
            cursor_position=buffer.position(row, col),
        )
        self.session.sample(viewport=viewport)

    def _view_text(self, buf: int, name: str, first: int, last: int, lines: list[str], row: int, col: int) -> None:
        """The viewport of a buffer whose text is not kept (help, a plugin's window): sent along."""
        assert self.session is not None
        cursor = screen_position(lines[row], first - 1 + row, col) if 0 <= row < len(lines) else None
        viewport = Viewport(
            file=self.session.relpath(name) if name.startswith("/") else name,
            start_line=first,
            end_line=max(last, first),
            content="\n".join(lines),
            cursor_position=cursor or Position(line=first - 1, character=0),
        )
        self.session.sample(viewport=viewport)

    def _enter(self, buf: int, name: str, kind: str, window: int) -> None:
        assert self.session is not None
        if kind == "terminal":
            self.session.record(TerminalFocus(terminal_id=_terminal_id(buf), terminal_name=_terminal_name(name)))
            return
        buffer = self.buffers.get(buf)
        if buffer is None:  # a scratch, help or plugin buffer: not a file
            return
        file = self._file(buffer)
        if file != self.current_file or window != self.current_window:
            self.session.record(TabSwitch(file=file, previous_file=self.current_file))
            self.current_file, self.current_window = file, window

    def _term_open(self, buf: int, name: str, command: str, cwd: str) -> None:
        assert self.session is not None
        self.session.record(
            TerminalCommand(
                terminal_id=_terminal_id(buf),
                terminal_name=_terminal_name(name),
                command=command,
                cwd=self.session.relpath(cwd) if cwd else None,
            )
        )

    def _term_close(self, buf: int, status: Any) -> None:
        assert self.session is not None
        self.session.record(
            TerminalCommandEnd(terminal_id=_terminal_id(buf), exit_code=status if isinstance(status, int) else None)
        )

    def _term_view(self, buf: int, name: str, lines: list[str], row: int, col: int, cols: int, rows: int) -> None:
        assert self.session is not None
        cursor = screen_position(lines[row], row, col) if 0 <= row < len(lines) else None
        screen = TerminalViewport(
            id=_terminal_id(buf),
            name=_terminal_name(name),
            viewport=list(lines),
            cursor=cursor,
            cols=max(cols, 1),
            rows=max(rows, 1),
        )
        self.session.sample(active_terminal=screen)

    def _focus(self, focused: bool) -> None:
        assert self.session is not None
        self.session.record(FocusChange(focused=bool(focused)))

    # --- commands --------------------------------------------------------------------------------

    def command(self, name: str, *args: Any) -> None:
        try:
            if name == "status":
                self.reply({"type": "status", "text": self.status_text(), **self.status()})
            elif name == "panic":
                self._panic()
            elif name == "consent":
                value = set_consent(str(args[0]), self.locations)
                self.reply({"type": "message", "text": f"consent is now {value.value}"})
            else:
                self.reply({"type": "message", "text": f"unknown command {name!r}", "error": True})
        except (CrowdcodeError, ValueError) as exc:
            self.reply({"type": "message", "text": str(exc), "error": True})

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = {"consent": consent_status(self.locations).value}
        if self.session is not None and not self.session.closed:
            status.update(self.session.status(), directory=str(self.session.directory))
        return status

    def status_text(self) -> str:
        s = self.status()
        if "sessionId" not in s:
            return f"not recording; consent: {s['consent']}"
        return (
            f"recording session {s['sessionId'][:12]}: {s['events']} events, {len(self.buffers)} buffers tracked; "
            f"consent: {s['consent']}{'; problem: ' + s['problem'] if s.get('problem') else ''}"
        )

    def _panic(self) -> None:
        if self.session is None or self.session.closed:
            self.reply({"type": "message", "text": "not recording"})
            return
        report = self.session.panic()
        since = time.strftime("%H:%M:%S", time.localtime(report.cutoff / 1000))
        self.reply(
            {
                "type": "message",
                "text": f"removed {report.removed} events recorded since {since} in {report.sessions} session(s); "
                "press again within 3 s to reach further back",
            }
        )

    # --- lifecycle -------------------------------------------------------------------------------

    def finish(self, reason: str) -> None:
        """Close every file and the session; the editor may go on without us."""
        if self.finished:
            return
        self.finished = True
        if self.session is None:
            return
        for buf in list(self.buffers):
            self._complete(buf)
            self._close(buf)
        if self.capture is not None:
            self.capture.close()
        self.session.close(reason)


def watched_roots(workspace: Path) -> list[Path]:
    """The folders whose files the attribution engine watches: the workspace, unless Neovim was
    started in the home directory or the filesystem root (watching all of it would cost more
    than it tells); then files are still recorded, without disk correlation."""
    if workspace in (Path.home(), Path(workspace.anchor)):
        return []
    return [workspace]


def _terminal_id(buf: int) -> str:
    return f"nvim-term-{buf}"


def _terminal_name(name: str) -> str:
    """``term://~/src//1234:bash`` → ``bash``; other names unchanged."""
    if name.startswith("term://") and ":" in name.rsplit("//", 1)[-1]:
        return name.rsplit("//", 1)[-1].split(":", 1)[1]
    return name
