"""The event schema: crowd-code 2.0's envelope, actions and observations, plus our extensions.

docs/schema.md is the reference for every field and unit; this module is its executable form.
Names and null conventions follow crowd-code 2.0 (src/types.ts) so that its data and ours mix.
"""

from __future__ import annotations

import enum
from typing import Any, ClassVar

import orjson

from .errors import SchemaError
from .records import INT_MAX, NonNegative, Positive, Record, fields_of, nullable, record

SCHEMA_VERSION = "1.0"
"""Version of the schema described here; written into every session's metadata."""

CROWD_CODE_VERSION = "2.0"
"""The crowd-code chunk version whose envelope and action names this schema keeps."""


class Source(enum.StrEnum):
    """Who made a change. Attribution is evidence-based; see docs/attribution.md."""

    USER = "user"
    AGENT = "agent"
    GIT = "git"
    GIT_CHECKOUT = "git_checkout"
    EXTERNAL = "external"
    UNKNOWN = "unknown"


class EditReason(enum.StrEnum):
    """Why an edit happened when it was not plain typing (crowd-code has only undo/redo)."""

    UNDO = "undo"
    REDO = "redo"
    PASTE = "paste"
    COMPLETION = "completion"
    FORMAT = "format"
    REFACTOR = "refactor"
    AGENT = "agent"
    RELOAD = "reload"


class ChangeType(enum.StrEnum):
    CREATE = "create"
    CHANGE = "change"
    DELETE = "delete"


class LineEnding(enum.StrEnum):
    LF = "lf"
    CRLF = "crlf"
    CR = "cr"
    MIXED = "mixed"


class SelectionMode(enum.StrEnum):
    CHAR = "char"
    LINE = "line"
    BLOCK = "block"


# --- value records -------------------------------------------------------------------------------


@record
class Position(Record):
    """0-based line and character; character counts UTF-16 code units."""

    line: NonNegative
    character: NonNegative


@record
class SelectionRange(Record):
    """One cursor of several: where the selection started (``anchor``) and where the cursor is
    (``active``), 0-based UTF-16."""

    anchor: Position
    active: Position


@record
class TextChange(Record):
    """Replace ``rangeLength`` UTF-16 code units at ``rangeOffset`` of the document *before* the
    change with ``text`` (VS Code's and LSP's convention)."""

    range_offset: NonNegative
    range_length: NonNegative
    text: str


@record
class ContentFacts(Record):
    """Evidence of a file's exact content at an event, so that a replay can prove itself:
    ``sha256`` of its bytes (UTF-8 text as written: BOM, line breaks and all), the line break it
    uses (omitted when it has none) and whether it ends in one. Built by
    :func:`crowdcode_sdk.positions.content_facts`."""

    sha256: str
    eol: LineEnding | None = None
    final_newline: bool | None = None

    def _finish(self) -> None:
        if len(self.sha256) != 64 or not all(c in "0123456789abcdef" for c in self.sha256):
            raise SchemaError("sha256", f"expected 64 lowercase hex digits, got {self.sha256!r}")


@record
class Evidence(Record):
    """Why a source was chosen: the agent, command or process seen doing the change."""

    agent: str | None = None
    command: str | None = None
    process: str | None = None
    pid: int | None = None
    terminal_id: str | None = None
    detail: str | None = None


@record
class EditorInfo(Record):
    name: str
    version: str | None = None
    host: str | None = None
    """The application hosting the editor integration (e.g. Cursor for the VS Code extension)."""


@record
class WorkspaceInfo(Record):
    """Workspace identity that can leave the machine: a folder name and a salted-hash id, never an
    absolute path."""

    name: str
    id: str


@record
class SessionMetadata(Record):
    schema_version: str
    session_id: str
    start_time: NonNegative
    adapter: str
    editor: EditorInfo
    sdk_version: str
    os: str
    workspace: WorkspaceInfo | None = nullable()


@record
class Viewport(Record):
    """What the editor shows: ``startLine``/``endLine`` are 1-based inclusive, ``content`` their
    text, ``cursorPosition`` 0-based (UTF-16)."""

    file: str
    start_line: Positive
    end_line: Positive
    content: str
    cursor_position: Position

    def _finish(self) -> None:
        if self.end_line < self.start_line:
            raise SchemaError("endLine", f"must be >= startLine ({self.start_line}), got {self.end_line}")


@record
class TerminalViewport(Record):
    """The active terminal's rendered screen: ``viewport`` holds its rows as text (crowd-code held
    the raw stream's last 20 lines instead); ``cursor`` is 0-based within the screen."""

    id: str
    name: str
    viewport: list[str]
    cursor: Position | None = None
    cols: Positive | None = None
    rows: Positive | None = None
    alternate_screen: bool | None = None


# --- payloads ------------------------------------------------------------------------------------


@record
class Observation(Record):
    """What the person can see; both parts are ``null`` when absent (crowd-code convention)."""

    viewport: Viewport | None = nullable()
    active_terminal: TerminalViewport | None = nullable()


@record
class WorkspaceSnapshot(Record):
    snapshot_id: str


_ACTION_KINDS: dict[str, type[Action]] = {}


@record
class Action(Record):
    """Base of all actions. ``source`` defaults per kind (``user`` for editor actions); lifecycle
    markers (session start/end, panic, gaps) have none."""

    kind: ClassVar[str]
    default_source: ClassVar[Source | None] = Source.USER

    source: Source | None = None
    evidence: Evidence | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        del kwargs  # super() is unusable here: @record swaps the class for a slotted copy
        kind = cls.__dict__.get("kind")
        if kind is not None:
            # @record replaces the class with a slotted copy, which registers last and wins.
            _ACTION_KINDS[kind] = cls

    def _finish(self) -> None:
        if self.source is None and self.default_source is not None:
            object.__setattr__(self, "source", self.default_source)


# Actions crowd-code 2.0 records, with its field names.


@record
class Edit(Action):
    kind = "edit"
    file: str
    diff: TextChange
    reason: EditReason | None = None


@record
class Selection(Action):
    """Primary selection; start <= end. Extensions: ``cursorPosition`` keeps the direction that
    crowd-code lost, ``mode`` the selection kind (Vim's visual modes), ``selections`` every cursor
    (the primary first) when there are several (multi-cursor editing, which crowd-code drops)."""

    kind = "selection"
    file: str
    selection_start: Position
    selection_end: Position
    selected_text: str
    cursor_position: Position | None = None
    mode: SelectionMode | None = None
    selections: list[SelectionRange] | None = None


@record
class TabSwitch(Action):
    kind = "tab_switch"
    file: str
    previous_file: str | None = nullable()


@record
class TerminalFocus(Action):
    kind = "terminal_focus"
    terminal_id: str
    terminal_name: str


@record
class TerminalCommand(Action):
    kind = "terminal_command"
    terminal_id: str
    terminal_name: str
    command: str
    cwd: str | None = None


@record
class FileChange(Action):
    """A change seen on disk that the user's edits do not explain; ``diff`` is a unified diff
    (context 3) from the user-explained baseline, ``null`` when identical or unreadable."""

    kind = "file_change"
    default_source = Source.UNKNOWN
    file: str
    change_type: ChangeType
    diff: str | None = nullable()
    content: ContentFacts | None = None
    """The file's content after the change (absent for a delete or an unreadable file)."""
    saved_in: str | None = None
    """The session whose editor saved this content (its ``file_save`` is in that session's
    journal): the workspace's owner records another session's save so that its own timeline
    holds every text on disk; a timeline that merges the saving session drops this record."""


# Extensions.


@record
class SessionStart(Action):
    kind = "session_start"
    default_source = None
    metadata: SessionMetadata


@record
class SessionEnd(Action):
    kind = "session_end"
    default_source = None
    reason: str | None = None


@record
class FileOpen(Action):
    """The editor opened a file. ``text``, when given, is the full text it opened: consumers
    (the serializer, replay) then know the file's content without a workspace snapshot."""

    kind = "file_open"
    file: str
    text: str | None = None
    content: ContentFacts | None = None
    """The buffer as opened: the disk's bytes, or the buffer's when it differs (a restored
    unsaved buffer)."""


@record
class FileSave(Action):
    """The editor wrote its buffer to disk. ``lastEditSequence`` is the sequence of the last
    ``edit`` of this file that the saved content contains (edits recorded after it were typed
    after the save); ``null``-omitted when the file had no edits."""

    kind = "file_save"
    file: str
    last_edit_sequence: NonNegative | None = None
    content: ContentFacts | None = None
    """What the editor wrote."""


@record
class FileClose(Action):
    kind = "file_close"
    file: str


@record
class FocusChange(Action):
    """The editor window or terminal gained or lost the user's focus."""

    kind = "focus_change"
    focused: bool


@record
class TerminalCommandEnd(Action):
    kind = "terminal_command_end"
    terminal_id: str
    terminal_name: str | None = None
    command: str | None = None
    exit_code: int | None = nullable()
    cwd: str | None = None
    duration_ms: NonNegative | None = None


@record
class TerminalInput(Action):
    """Text the user typed into a terminal. Never recorded while the terminal has echo off."""

    kind = "terminal_input"
    terminal_id: str
    data: str


@record
class TerminalResize(Action):
    kind = "terminal_resize"
    terminal_id: str
    cols: Positive
    rows: Positive


@record
class AgentSessionStart(Action):
    kind = "agent_session_start"
    agent: str
    command: str | None = None
    cwd: str | None = None
    terminal_id: str | None = None


@record
class AgentSessionEnd(Action):
    kind = "agent_session_end"
    agent: str
    exit_code: int | None = None
    terminal_id: str | None = None


@record
class AgentPrompt(Action):
    """``command``: true for the agent's own commands (``/exit``, ``/clear``), which steer the
    agent rather than ask it something."""

    kind = "agent_prompt"
    agent: str
    text: str
    terminal_id: str | None = None
    command: bool | None = None


@record
class AgentResponse(Action):
    kind = "agent_response"
    default_source = Source.AGENT
    agent: str
    text: str
    terminal_id: str | None = None


@record
class Panic(Action):
    """Marks that the user removed recorded time: events from ``gapStart`` up to the panic were
    deleted. Carries no content."""

    kind = "panic"
    default_source = None
    gap_start: NonNegative
    gap_end: NonNegative


@record
class RecordingGap(Action):
    """Recording was suspended (full disk, recorder overload): ``lostEvents`` events are missing."""

    kind = "recording_gap"
    default_source = None
    lost_events: NonNegative
    reason: str


def action_kinds() -> dict[str, type[Action]]:
    return dict(_ACTION_KINDS)


# --- the envelope ---------------------------------------------------------------------------------

Payload = Action | Observation | WorkspaceSnapshot


class EventType(enum.StrEnum):
    ACTION = "action"
    OBSERVATION = "observation"
    WORKSPACE_SNAPSHOT = "workspace_snapshot"


class Event:
    """One journal line: ``sequence`` (per session, from 1, never reused), ``timestamp`` (epoch ms
    from a monotonic clock) and one payload."""

    __slots__ = ("payload", "sequence", "timestamp")

    def __init__(self, sequence: int, timestamp: int, payload: Payload) -> None:
        self.sequence = sequence
        self.timestamp = timestamp
        self.payload = payload

    @property
    def type(self) -> EventType:
        if isinstance(self.payload, Action):
            return EventType.ACTION
        if isinstance(self.payload, Observation):
            return EventType.OBSERVATION
        return EventType.WORKSPACE_SNAPSHOT

    @property
    def kind(self) -> str | None:
        return self.payload.kind if isinstance(self.payload, Action) else None

    def to_wire(self) -> dict[str, Any]:
        payload = self.payload
        if isinstance(payload, Action):
            return {
                "sequence": self.sequence,
                "timestamp": self.timestamp,
                "type": "action",
                "action": payload.to_wire(),
            }
        if isinstance(payload, Observation):
            return {
                "sequence": self.sequence,
                "timestamp": self.timestamp,
                "type": "observation",
                "observation": payload.to_wire(),
            }
        return {
            "sequence": self.sequence,
            "timestamp": self.timestamp,
            "type": "workspace_snapshot",
            "snapshotId": payload.snapshot_id,
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Event) and self.to_wire() == other.to_wire()

    def __repr__(self) -> str:
        return f"Event({self.sequence}, {self.timestamp}, {self.payload!r})"


def encode_event(event: Event) -> bytes:
    """Compact JSON, without a trailing newline."""
    return orjson.dumps(event.to_wire())


def decode_event(data: bytes | str | dict[str, Any]) -> Event:
    """Parse and validate one event; a :class:`SchemaError` names the first bad field."""
    if not isinstance(data, dict):
        try:
            data = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise SchemaError("", f"not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise SchemaError("", f"an event must be a JSON object, got {type(data).__name__}")
    sequence = data.get("sequence")
    timestamp = data.get("timestamp")
    if type(sequence) is not int or not 1 <= sequence <= INT_MAX:
        raise SchemaError("sequence", f"expected an integer >= 1, got {sequence!r}")
    if type(timestamp) is not int or not 0 <= timestamp <= INT_MAX:
        raise SchemaError("timestamp", f"expected epoch milliseconds, got {timestamp!r}")
    kind = data.get("type")
    if kind == "action":
        _only(data, "action")
        payload: Payload = decode_action(data.get("action"), "action")
    elif kind == "observation":
        _only(data, "observation")
        payload = Observation.from_wire(data.get("observation"), "observation")
    elif kind == "workspace_snapshot":
        _only(data, "snapshotId")
        payload = WorkspaceSnapshot.from_wire({"snapshotId": data.get("snapshotId")})
    else:
        raise SchemaError("type", f"expected 'action', 'observation' or 'workspace_snapshot', got {kind!r}")
    return Event(sequence, timestamp, payload)


def decode_action(data: Any, path: str = "") -> Action:
    """Validate an action object (``{"kind": …, …}``) as an adapter sends it."""
    if not isinstance(data, dict):
        raise SchemaError(path, f"expected an object, got {type(data).__name__}")
    kind = data.get("kind")
    cls = _ACTION_KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        where = f"{path}.kind" if path else "kind"
        raise SchemaError(where, f"unknown action kind {kind!r}; known: {', '.join(sorted(_ACTION_KINDS))}")
    return cls.from_wire({k: v for k, v in data.items() if k != "kind"}, path)


def _only(data: dict[str, Any], payload_key: str) -> None:
    for key in data:
        if key not in ("sequence", "timestamp", "type", payload_key):
            raise SchemaError(key, "unknown field")


__all__ = [name for name in dir() if not name.startswith("_")] + ["fields_of"]
