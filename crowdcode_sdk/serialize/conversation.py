"""From a session's events to action-observation steps (crowd-pilot's format, made exact).

The developer is the assistant: each of their actions becomes one shell command, and the
environment answers as the user with ``<stdout>``. The state machine follows the reference
serializer (see docs/serialization.md) with these differences:

* edits are replayed onto tracked file texts and coalesced per file and source; a flushed group
  becomes one exact command from :mod:`.sed`, chained with the viewport slice around the change;
* navigation uses selections and, since our adapters record them, the cursor of viewport
  observations; a file shown for the first time in the session is shown whole;
* changes not made by the user (agents, git, other programs) are also commands, so the
  conversation stays executable, with a first comment line naming their source
  (``# agent: claude``) unless ``mark_sources`` is off;
* a prompt typed into a CLI agent is an assistant turn holding the prompt text (what was typed
  into the terminal) and the agent's response screen is the ``<stdout>``;
* terminal output comes from rendered screens (see :mod:`.terminal`), else from the raw
  ``.cast`` stream between the command's start and end (see :mod:`.casts`).

Buffers and disk come from ``crowdcode verify``'s replay of the same events (a
:class:`~crowdcode_sdk.verification.Verifier` fed each event first): a ``file_change`` takes the
replayed disk text, a ``file_save`` whose text the conversation's file does not hold (another
program deleted or changed it) writes it, checked against the save's recorded hash.

Initial file contents, in order of preference: the file's text in a ``workspace_snapshot`` taken
before its first edit, the ``text`` of its first ``file_open`` (else the replayed buffer it was
opened with, from a snapshot, checked by the open's hash), the content of its first
viewport observation if that starts at line 1 (exact for files that fit on screen, else an
approximation, counted in ``stats.approximate``), else empty when its first edit inserts at
offset 0 of an unseen file (a new file). Edits to a file whose text is unknown are dropped and
counted in ``stats.unknown``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..positions import PositionError, text_sha256
from ..verification import TextSnapshots, Verifier
from . import sed
from .buffer import TextBuffer
from .casts import CastReader
from .patch import PatchError, apply_unified_diff
from .snapshots import SnapshotLoader
from .terminal import command_output, shows_command
from .tokens import Tokenizer, truncate

FILE_KINDS = ("view", "edit")
"""Step kinds whose commands only read or write workspace files (and so can be replayed)."""


@dataclass(frozen=True)
class Options:
    viewport_radius: int = 10
    coalesce_radius: int = 5
    max_output_tokens: int = 256
    """Terminal and agent output is cut to this many tokens (file views never are here)."""
    mark_sources: bool = True
    path_prefix: str | None = None
    """Written before workspace-relative paths (e.g. ``/workspace``) so that paths are absolute."""
    include_agent_prompts: bool = True


@dataclass
class Step:
    """One assistant command and the environment's answer, and the conversation it is in."""

    kind: str  # "view" | "edit" | "terminal" | "agent"
    command: str
    output: str
    timestamp: int
    conversation: int = 0
    assistant: str = ""
    """The assistant message: the command in a fenced bash block."""
    user: str = ""
    """The user message: the output in ``<stdout>``, cut to the message token limit."""
    tokens: int = 0
    source: str = "user"
    """Who made the step: ``user``, or the label of an agent, git or another program
    (``agent: claude``, ``git``, ``external``, ``unknown``); datasets mark the latter per turn so
    that trainers can mask them from the loss."""
    sequence: int = 0
    """The sequence number of the last event read when the step was made."""


@dataclass
class Stats:
    events: int = 0
    steps: int = 0
    edits: int = 0
    unknown: int = 0
    approximate: int = 0
    refused: int = 0
    """Viewports not taken as a file's text because the file's recorded hash says otherwise."""
    patch_failures: int = 0


@dataclass
class _File:
    doc: TextBuffer | None  # None: the text is unknown
    """The editor's text of the file: edits apply to it."""
    exists: bool = True
    """Whether the file is on the conversation's disk (a file deleted by another program may stay
    in the editor, and its next save brings it back)."""
    shown: bool = False
    window: tuple[int, int] | None = None
    disk: str | None = None
    """What the commands left in the file when that is not ``doc`` (another program changed the
    file under an editor holding other text); ``None``: the file holds ``doc``."""

    def written(self) -> str:
        """The file's text as the commands so far leave it."""
        assert self.doc is not None
        return self.doc.text if self.disk is None else self.disk


@dataclass
class _Pending:
    path: str
    source: str
    before: str
    lo: int
    hi: int


@dataclass
class _Command:
    terminal_id: str
    command: str
    timestamp: int
    screen: dict[str, Any] | None = None
    end: int | None = None
    exit_code: int | None = None


@dataclass
class Builder:
    """Feed wire events (dicts as journaled) in order; collect :class:`Step` s."""

    options: Options
    tokenizer: Tokenizer
    load_snapshot: SnapshotLoader | None = None
    casts: CastReader | None = None
    budget: int | None = None
    """Tokens per conversation (``None``: one conversation)."""
    message_limit: int | None = None
    """Tokens per user message (``None``: no cut)."""
    replay: Verifier | None = None
    """``crowdcode verify``'s replay of the same events, fed each event before the builder: what
    the editor's buffers and the disk hold, from snapshots, opens, saves and diffs."""
    steps: list[Step] = field(default_factory=list)
    stats: Stats = field(default_factory=Stats)
    files: dict[str, _File] = field(default_factory=dict)
    initial: dict[str, str] = field(default_factory=dict)
    """Each file's first known text: the workspace the steps apply to."""
    _pending: _Pending | None = None
    _command: _Command | None = None
    _prompt: tuple[str, str, int] | None = None  # agent, text, timestamp
    _response: str | None = None
    _active: str | None = None
    _now: int = 0
    _sequence: int = 0
    _stale: dict[str, str] = field(default_factory=dict)
    """Texts that commands left in files whose text then became unknown."""
    _conversation: int = 0
    _used: int = 0
    _hashes: dict[str, str] = field(default_factory=dict)
    """The recorded SHA-256 of files opened without their text."""
    _seen: set[str] = field(default_factory=set)
    """Files shown in the current conversation."""

    # --- input -----------------------------------------------------------------------------------

    def feed(self, events: Iterable[dict[str, Any]]) -> list[Step]:
        for event in events:
            self.stats.events += 1
            self._now = event.get("timestamp", self._now)
            self._sequence = event.get("sequence", self._sequence)
            kind = event.get("type")
            if kind == "action":
                self._action(event["action"])
            elif kind == "observation":
                self._observation(event["observation"])
            elif kind == "workspace_snapshot":
                self._snapshot(event["snapshotId"])
        self.finish()
        return self.steps

    def finish(self) -> None:
        self._flush()
        self._close_command()
        self._close_prompt()

    def _action(self, action: dict[str, Any]) -> None:
        handler = _HANDLERS.get(action.get("kind", ""))
        if handler is not None:
            handler(self, action)

    # --- files -----------------------------------------------------------------------------------

    def _path(self, relpath: str) -> str:
        prefix = self.options.path_prefix
        if prefix and not relpath.startswith(("/", "~")):
            return f"{prefix.rstrip('/')}/{relpath}"
        return relpath

    def _learn(self, relpath: str, text: str, *, approximate: bool = False) -> None:
        """Take ``text`` as the file's content if nothing better is known yet."""
        state = self.files.get(relpath)
        if state is not None and state.doc is not None:
            return
        state = self.files[relpath] = _File(TextBuffer(text))
        if approximate:
            self.stats.approximate += 1
        stale = self._stale.pop(relpath, None)
        if stale is not None:  # commands wrote this file before it became unknown: resync it
            self._flush()
            self._write(relpath, state, stale, text, "unknown")
        elif relpath not in self.initial:
            self.initial[relpath] = text

    def _may_be_new(self, relpath: str) -> bool:
        """Whether a file never seen may be taken as new (empty): not when it was opened with a
        recorded hash of something else."""
        expected = self._hashes.get(relpath)
        return expected is None or expected == text_sha256("")

    def _guess(self, relpath: str, text: str) -> None:
        """Take a viewport from line 1 as the file's text: exact when the file's recorded hash
        (``file_open.content``) matches it, refused (and counted) when it does not, approximate
        when nothing was recorded to check it against."""
        expected = self._hashes.get(relpath)
        if expected is None:
            self._learn(relpath, text, approximate=True)
        elif text_sha256(text) == expected:
            self._learn(relpath, text)
        else:
            self.stats.refused += 1

    def _snapshot(self, snapshot_id: str) -> None:
        if self.load_snapshot is None:
            return
        for relpath, text in (self.load_snapshot(snapshot_id) or {}).items():
            self._learn(relpath, text)

    def _file_open(self, action: dict[str, Any]) -> None:
        relpath = action["file"]
        text = action.get("text")
        if text is None:
            if (action.get("content") or {}).get("sha256"):
                self._hashes[relpath] = action["content"]["sha256"]
            text = self.replay.buffer_text(relpath) if self.replay is not None else None
        if text is not None:  # given, or the disk text the replay has from a snapshot, checked by its hash
            self._reopen(relpath, text)
            self._learn(relpath, text)
        self._switch(relpath)

    def _reopen(self, relpath: str, text: str) -> None:
        """The editor opens a file the conversation holds with other text: it dropped its unsaved
        edits (closed and opened again, ``:e!``), which the commands had written into the file.
        A command brings the file back to the disk's text, and the editor's text is the open's."""
        state = self.files.get(relpath)
        if state is None or state.doc is None or state.doc.text == text:
            return
        self._flush()
        disk = self.replay.disk_text(relpath) if self.replay is not None else None
        disk = text if disk is None else disk
        before = state.written() if state.exists else None
        state.doc = TextBuffer(text)
        state.disk = None if disk == text else disk
        if before is not None and before != disk:
            self._write(relpath, state, before, disk, "user")

    def _tab_switch(self, action: dict[str, Any]) -> None:
        self._switch(action["file"])

    def _switch(self, relpath: str) -> None:
        self._flush()
        self._active = relpath
        state = self.files.get(relpath)
        if state is None or state.doc is None or not state.exists:
            return
        if not state.shown:
            self._show(relpath, state)
        elif state.window:
            self._view_slice(relpath, state, *state.window)

    def _show(self, relpath: str, state: _File, center: int | None = None) -> None:
        text = state.written()
        self._emit("view", sed.view_command(self._path(relpath)), sed.cat_n(text), path=relpath, whole=True)
        state.shown = True
        state.window = self._window(text, center or 1)

    def _window(self, text: str, center: int) -> tuple[int, int] | None:
        total = sed.line_count(text)
        if not total:
            return None
        radius = self.options.viewport_radius
        center = min(max(center, 1), total)
        return max(center - radius, 1), min(center + radius, total)

    def _view_slice(self, relpath: str, state: _File, start: int, end: int) -> None:
        command = sed.view_command(self._path(relpath), start, end)
        text = state.written()
        self._emit("view", command, sed.cat_n(text, start, end), path=relpath, before=text)

    def _cursor(self, relpath: str, line: int) -> None:
        """The cursor is on 0-based ``line``: recentre the viewport if it left it."""
        if self._pending is not None and self._pending.path == relpath:
            return  # the cursor follows the edit being typed
        state = self.files.get(relpath)
        if state is None or state.doc is None or not state.exists:
            return
        if relpath != self._active:
            self._flush()
            self._active = relpath
        if not state.shown:
            self._flush()
            self._show(relpath, state, line + 1)
            return
        if state.window and state.window[0] <= line + 1 <= state.window[1]:
            return
        window = self._window(state.written(), line + 1)
        if window is None or window == state.window:
            return
        self._flush()
        state.window = window
        self._view_slice(relpath, state, *window)

    def _selection(self, action: dict[str, Any]) -> None:
        position = action.get("cursorPosition") or action["selectionStart"]
        self._cursor(action["file"], position["line"])

    def _edit(self, action: dict[str, Any]) -> None:
        relpath = action["file"]
        diff = action["diff"]
        source = _source_label(action)
        state = self.files.get(relpath)
        if state is None and diff["rangeOffset"] == 0 and diff["rangeLength"] == 0 and self._may_be_new(relpath):
            self._learn(relpath, "")  # never seen: a new file
            state = self.files[relpath]
        if state is None or state.doc is None:
            self.stats.unknown += 1
            return
        doc = state.doc
        previous = doc.text  # str is immutable: keeping the old text costs nothing
        try:
            first, last = doc.replace(diff["rangeOffset"], diff["rangeLength"], diff["text"])
        except PositionError:
            self._forget(relpath)
            return
        if not state.exists:  # deleted on disk, still in the editor: its save writes it back
            self.stats.edits += 1
            return
        if action.get("reason") == "reload":
            self._reloaded(relpath, state, previous)
            return
        pending = self._pending
        radius = self.options.coalesce_radius
        if pending is not None and not (
            pending.path == relpath
            and pending.source == source
            and first <= pending.hi + radius
            and last >= pending.lo - radius
        ):
            with _showing(doc, previous):  # the pending group ends before this edit
                self._flush()
            pending = None
        if pending is None:
            self._close_command()
            self._close_prompt()
            before = state.written() if state.disk is not None else previous
            state.disk = None  # the group's command writes the editor's text into the file
            if not state.shown and before and source == "user":
                with _showing(doc, before):
                    self._show(relpath, state, first + 1)
            pending = self._pending = _Pending(relpath, source, before, first, last)
        added = diff["text"].count("\n")
        delta = added - (last - first)
        pending.lo = min(pending.lo, first)
        pending.hi = max(pending.hi + delta if pending.hi >= last else pending.hi, first + added)
        self.stats.edits += 1

    def _reloaded(self, relpath: str, state: _File, previous: str) -> None:
        """The editor's text became what it read from the disk (the disk after another program's
        change, or the disk's text less what the editor keeps aside: a byte order mark, CRLF, a
        final newline). The file itself is as it was, unless the reload dropped unsaved edits
        (``:e!``): the commands had written those into the file, and one brings it back to the
        disk's text, as for an editor that closes and opens the file again."""
        assert state.doc is not None
        if self._pending is not None:
            with _showing(state.doc, previous):
                self._flush()
        written = previous if state.disk is None else state.disk
        disk = self.replay.disk_text(relpath) if self.replay is not None else None
        if disk is not None and disk != written:
            self._write(relpath, state, written, disk, "user")
            written = disk
        state.disk = None if written == state.doc.text else written
        self.stats.edits += 1

    def _forget(self, relpath: str) -> None:
        """Stop trusting a file's text. What the commands so far made of it is remembered, so
        that when its text is known again a command brings the replayed file there."""
        if self._pending is not None and self._pending.path == relpath:
            self._flush()
        state = self.files.get(relpath)
        if state is not None and state.doc is not None and state.exists:
            self._stale[relpath] = state.written()
        self.files[relpath] = _File(None)
        self.stats.unknown += 1

    def _flush(self) -> None:
        """Turn the pending edit group into one command (nothing if it changed nothing)."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        state = self.files[pending.path]
        assert state.doc is not None  # forgetting a file's text flushes its pending edits first
        self._write(pending.path, state, pending.before, state.doc.text, pending.source)

    def _write(self, relpath: str, state: _File, before: str, after: str, source: str) -> None:
        made = sed.edit_command(self._path(relpath), before, after)
        if made is None:
            return
        command, block = made
        center = block.first + 1 + len(block.after_lines) // 2
        window = self._window(after, center)
        output = ""
        if window is not None:
            command += " && " + sed.view_command(self._path(relpath), *window)
            output = sed.cat_n(after, *window)
        state.window = window
        state.shown = True
        if source != "user" and self.options.mark_sources:
            command = f"# {source}\n{command}"
        self._emit("edit", command, output, path=relpath, before=before, source=source)

    def _file_change(self, action: dict[str, Any]) -> None:
        """Another program changed the file on disk: a command brings the conversation's file to
        the text the replay gives (the editor's text stays as the replay has it)."""
        relpath = action["file"]
        self._flush()
        self._close_command()
        self._close_prompt()
        source = _source_label(action)
        state = self.files.get(relpath)
        change_type = action.get("changeType")
        known = state is not None and state.doc is not None
        replayed = None if known else self._stale.pop(relpath, None)
        if change_type == "delete":
            if replayed is not None or (state is not None and state.exists and state.doc is not None):
                self._emit_marked("edit", f"rm -f -- {sed.path_arg(self._path(relpath))}", source)
            if state is not None and state.doc is not None:
                state.exists, state.disk = False, None  # the editor may hold it still
            else:
                self.files[relpath] = _File(TextBuffer(""), exists=False)
            return
        if state is not None and state.doc is not None and state.exists and change_type != "create":
            before = state.written()
        else:
            before = replayed if replayed is not None else ""  # not in the conversation's workspace
        after = self._changed(relpath, before, action.get("diff"), (action.get("content") or {}).get("sha256"))
        if after is None:
            if replayed is not None:
                self._stale[relpath] = replayed
            self._forget(relpath)  # unknown before, or unreadable after: stop trusting it
            return
        buffer = self.replay.buffer_text(relpath) if self.replay is not None else None
        if state is None or state.doc is None:
            state = self.files[relpath] = _File(TextBuffer(after))
        state.doc = TextBuffer(after if buffer is None else buffer)  # no buffer: no editor holds it
        state.exists = True
        state.disk = None if state.doc is not None and after == state.doc.text else after
        if before == "" and after == "" and change_type == "create":
            self._emit_marked("edit", f": > {sed.path_arg(self._path(relpath))}", source)
            return
        self._write(relpath, state, before, after, source)

    def _changed(self, relpath: str, before: str, diff: str | None, expected: str | None) -> str | None:
        """The file's text after a ``file_change``: the replay's (its diff applied to the disk it
        tracks), else the diff applied to ``before`` when that gives the recorded hash (hunks
        apply wherever their context matches, so a text the commands left is not enough);
        ``None`` when neither is known."""
        after = self.replay.disk_text(relpath) if self.replay is not None else None
        if after is not None or diff is None:
            return after
        try:
            after = apply_unified_diff(before, diff)
        except PatchError:
            self.stats.patch_failures += 1
            return None
        return after if expected is None or text_sha256(after) == expected else None

    def _file_save(self, action: dict[str, Any]) -> None:
        """The editor wrote the file: if the conversation's file holds other text (another program
        deleted or changed it meanwhile), a command writes the saved text. The saved text comes
        from the replay and must match the recorded hash; else nothing is written and the file is
        counted as unknown."""
        relpath = action["file"]
        state = self.files.get(relpath)
        if state is None or state.doc is None or self.replay is None:
            return
        self._flush()
        saved = self.replay.disk_text(relpath)
        expected = (action.get("content") or {}).get("sha256")
        if saved is None or (expected is not None and text_sha256(saved) != expected):
            self._forget(relpath)  # what the save wrote is not known
            return
        if state.exists and state.written() == saved:
            return
        before = state.written() if state.exists else ""
        path = sed.path_arg(self._path(relpath))
        created = not state.exists
        state.exists = True
        state.disk = None if saved == state.doc.text else saved
        if created and saved == "":
            self._emit_marked("edit", f": > {path}", "user")
        else:
            self._write(relpath, state, before, saved, "user")

    def _file_close(self, action: dict[str, Any]) -> None:
        """The editor closed the file. Unsaved edits in it are gone (``:bd!``, or ``:saveas``,
        which takes them to the other file): the commands had written them into the file, and one
        brings it back to the disk's text, as for a reload that drops them."""
        relpath = action["file"]
        state = self.files.get(relpath)
        disk = self.replay.disk_text(relpath) if self.replay is not None else None
        if state is None or state.doc is None or not state.exists or disk is None:
            return
        self._flush()
        written = state.written()
        state.doc, state.disk = TextBuffer(disk), None
        if written != disk:
            self._write(relpath, state, written, disk, "user")

    def _emit_marked(self, kind: str, command: str, source: str) -> None:
        if source != "user" and self.options.mark_sources:
            command = f"# {source}\n{command}"
        self._emit(kind, command, "", source=source)

    def _observation(self, observation: dict[str, Any]) -> None:
        terminal = observation.get("activeTerminal")
        if terminal and self._command is not None and terminal.get("id") == self._command.terminal_id:
            self._command.screen = terminal
        viewport = observation.get("viewport")
        if viewport:
            relpath = viewport["file"]
            if viewport.get("startLine") == 1 and relpath not in self.files:
                self._guess(relpath, viewport.get("content", ""))
            self._cursor(relpath, viewport["cursorPosition"]["line"])

    # --- terminals and agents --------------------------------------------------------------------

    def _terminal_command(self, action: dict[str, Any]) -> None:
        self._flush()
        self._close_command()
        self._close_prompt()
        self._command = _Command(action["terminalId"], action["command"], self._now)

    def _terminal_command_end(self, action: dict[str, Any]) -> None:
        if self._command is not None and self._command.terminal_id == action["terminalId"]:
            self._command.end = self._now
            self._command.exit_code = action.get("exitCode")

    def _terminal_focus(self, action: dict[str, Any]) -> None:
        self._flush()

    def _close_command(self) -> None:
        command, self._command = self._command, None
        if command is None:
            return
        text = command.command.replace("\r\n", "\n").strip()
        output = command_output(command.screen, text)
        if self.casts is not None and (command.screen is None or not shows_command(command.screen, text)):
            marked = self.casts.marked_output(command.terminal_id, text, command.timestamp)
            if marked is not None:
                output = marked
            elif command.screen is None:
                end = command.end if command.end is not None else self._now
                output = self.casts.output(command.terminal_id, command.timestamp, end) or ""
        output = truncate(self.tokenizer, output, self.options.max_output_tokens)
        if command.exit_code is not None:
            output = with_exit_code(output, command.exit_code)
        self._emit("terminal", text, output, command.timestamp)

    def _agent_prompt(self, action: dict[str, Any]) -> None:
        if not self.options.include_agent_prompts:
            return
        self._flush()
        self._close_prompt()
        self._close_command()  # the agent's own command line (``claude``) is a step before it
        self._prompt = (action.get("agent", ""), action["text"], self._now)

    def _agent_response(self, action: dict[str, Any]) -> None:
        if self._prompt is not None:
            self._response = action["text"]

    def _close_prompt(self) -> None:
        prompt, self._prompt = self._prompt, None
        response, self._response = self._response, None
        if prompt is None:
            return
        output = truncate(self.tokenizer, response or "", self.options.max_output_tokens)
        text = prompt[1].replace("\r\n", "\n").strip()
        self._emit("agent", text, output, prompt[2], source=f"prompt: {prompt[0]}")

    # --- output ----------------------------------------------------------------------------------

    def _emit(
        self,
        kind: str,
        command: str,
        output: str,
        timestamp: int | None = None,
        *,
        path: str | None = None,
        before: str | None = None,
        whole: bool = False,
        source: str = "user",
    ) -> None:
        """Add a step. ``path``: the file it shows or edits, ``before`` its text before the step,
        ``whole`` whether the step shows all of it. A conversation that reaches the token budget
        is closed first; in a new one, a file is shown whole before a step touches it, as the
        reference does (nothing to show of a file that was empty before)."""
        if kind in FILE_KINDS:  # a command or prompt still open happened before this step
            self._close_command()
            self._close_prompt()
        step = self._step(kind, command, output, self._now if timestamp is None else timestamp)
        step.source = source
        if self.budget is not None and self._used and self._used + step.tokens > self.budget:
            self._conversation += 1
            self._used = 0
            self._seen = set()
        if path is not None and not whole and path not in self._seen and before:
            self._append(self._step("view", sed.view_command(self._path(path)), sed.cat_n(before), step.timestamp))
        if path is not None:
            self._seen.add(path)
        self._append(step)

    def _step(self, kind: str, command: str, output: str, timestamp: int) -> Step:
        body = output[:-1] if output.endswith("\n") else output
        user = f"<stdout>\n{body}\n</stdout>"
        if self.message_limit is not None:
            user = truncate(self.tokenizer, user, self.message_limit)
        assistant = f"```bash\n{command}\n```"
        tokens = self.tokenizer.count(assistant) + self.tokenizer.count(user)
        return Step(kind, command, output, timestamp, assistant=assistant, user=user, tokens=tokens)

    def _append(self, step: Step) -> None:
        step.conversation = self._conversation
        step.sequence = self._sequence
        self._used += step.tokens
        self.steps.append(step)
        self.stats.steps += 1


def with_exit_code(output: str, code: int) -> str:
    """The command's output with its exit status as a last line, as a shell user sees it from
    ``echo $?``: whether a command failed is part of what the model should learn."""
    body = output.rstrip("\n")
    return f"{body}\n[exit code {code}]" if body else f"[exit code {code}]"


@contextlib.contextmanager
def _showing(doc: TextBuffer, text: str) -> Iterator[None]:
    """Let ``doc`` read as ``text`` (its state before the current edit) for a moment."""
    current = doc.text
    doc.text = text
    try:
        yield
    finally:
        doc.text = current


def _no_snapshot(_: str) -> dict[str, str] | None:
    return None


def _source_label(action: dict[str, Any]) -> str:
    source = action.get("source") or "user"
    agent = (action.get("evidence") or {}).get("agent")
    return f"{source}: {agent}" if agent and source != "user" else source


_HANDLERS = {
    "file_open": Builder._file_open,
    "tab_switch": Builder._tab_switch,
    "selection": Builder._selection,
    "edit": Builder._edit,
    "file_change": Builder._file_change,
    "file_save": Builder._file_save,
    "file_close": Builder._file_close,
    "terminal_command": Builder._terminal_command,
    "terminal_command_end": Builder._terminal_command_end,
    "terminal_focus": Builder._terminal_focus,
    "agent_prompt": Builder._agent_prompt,
    "agent_response": Builder._agent_response,
}


def build_steps(
    events: Iterable[dict[str, Any]],
    options: Options,
    tokenizer: Tokenizer,
    load_snapshot: SnapshotLoader | None = None,
    casts: CastReader | None = None,
    *,
    budget: int | None = None,
    message_limit: int | None = None,
    replay: Verifier | None = None,
) -> Builder:
    """Run the state machine over a session; the builder holds ``steps`` (numbered by
    conversation), ``stats`` and ``initial`` (the workspace the steps start from). ``replay``: a
    verifier already fed ``events`` one by one before the builder sees each (``Verifier.passing``);
    without one, one is run here."""
    if replay is None:  # no verification running alongside: replay the files here
        replay = Verifier("", TextSnapshots(load_snapshot or _no_snapshot))
        events = replay.passing(events)
    builder = Builder(options, tokenizer, load_snapshot, casts, budget, message_limit, replay)
    builder.feed(events)
    return builder
