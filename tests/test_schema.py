"""The event schema: round-trips, crowd-code conventions, and errors that name the field."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crowdcode_sdk import schema as s
from crowdcode_sdk.errors import SchemaError

# Text that stresses the wire format: non-BMP, CRLF, lone CR, NUL, quotes, backslashes, empty.
text = st.lists(st.sampled_from(["a", "é", "😀", "𝄞", "\r\n", "\r", "\n", "\t", '"', "\\", "\x00", " "])).map("".join)
nonneg = st.integers(min_value=0, max_value=2**40)
positive = st.integers(min_value=1, max_value=2**31)
position = st.builds(s.Position, line=nonneg, character=nonneg)
change = st.builds(s.TextChange, range_offset=nonneg, range_length=nonneg, text=text)
source = st.sampled_from(list(s.Source))
evidence = st.none() | st.builds(s.Evidence, agent=st.none() | text, command=st.none() | text, pid=st.none() | nonneg)


@st.composite
def viewports(draw):
    start = draw(positive)
    return s.Viewport(
        file=draw(text),
        start_line=start,
        end_line=start + draw(st.integers(0, 100)),
        content=draw(text),
        cursor_position=draw(position),
    )


terminal = st.builds(
    s.TerminalViewport,
    id=text,
    name=text,
    viewport=st.lists(text, max_size=5),
    cursor=st.none() | position,
    cols=st.none() | positive,
    rows=st.none() | positive,
    alternate_screen=st.none() | st.booleans(),
)
actions = st.one_of(
    st.builds(
        s.Edit,
        file=text,
        diff=change,
        source=source,
        evidence=evidence,
        reason=st.none() | st.sampled_from(list(s.EditReason)),
    ),
    st.builds(
        s.Selection,
        file=text,
        selection_start=position,
        selection_end=position,
        selected_text=text,
        cursor_position=st.none() | position,
        mode=st.none() | st.sampled_from(list(s.SelectionMode)),
    ),
    st.builds(s.TabSwitch, file=text, previous_file=st.none() | text),
    st.builds(s.TerminalFocus, terminal_id=text, terminal_name=text),
    st.builds(s.TerminalCommand, terminal_id=text, terminal_name=text, command=text, cwd=st.none() | text),
    st.builds(
        s.TerminalCommandEnd,
        terminal_id=text,
        exit_code=st.none() | st.integers(-255, 255),
        duration_ms=st.none() | nonneg,
    ),
    st.builds(s.TerminalInput, terminal_id=text, data=text),
    st.builds(s.TerminalResize, terminal_id=text, cols=positive, rows=positive),
    st.builds(
        s.FileChange,
        file=text,
        change_type=st.sampled_from(list(s.ChangeType)),
        diff=st.none() | text,
        source=source,
        evidence=evidence,
    ),
    st.builds(s.FileOpen, file=text),
    st.builds(s.FileSave, file=text),
    st.builds(s.FileClose, file=text),
    st.builds(s.FocusChange, focused=st.booleans()),
    st.builds(s.AgentPrompt, agent=text, text=text),
    st.builds(s.AgentResponse, agent=text, text=text),
    st.builds(s.AgentSessionStart, agent=text, command=st.none() | text),
    st.builds(s.AgentSessionEnd, agent=text, exit_code=st.none() | st.integers(-(2**63), 2**63 - 1)),
    st.builds(s.Panic, gap_start=nonneg, gap_end=nonneg),
    st.builds(s.RecordingGap, lost_events=nonneg, reason=text),
    st.builds(s.SessionEnd, reason=st.none() | text),
)
payloads = st.one_of(
    actions,
    st.builds(s.Observation, viewport=st.none() | viewports(), active_terminal=st.none() | terminal),
    st.builds(s.WorkspaceSnapshot, snapshot_id=text),
)


@settings(max_examples=400)
@given(sequence=positive, timestamp=nonneg, payload=payloads)
def test_every_event_round_trips_through_json(sequence, timestamp, payload):
    event = s.Event(sequence, timestamp, payload)
    line = s.encode_event(event)
    assert b"\n" not in line  # one event per JSON Lines line, whatever the text holds
    decoded = s.decode_event(line)
    assert decoded == event
    assert s.encode_event(decoded) == line


def test_wire_format_matches_crowd_code_2():
    event = s.Event(
        7, 1_700_000_000_000, s.Edit(file="src/a.ts", diff=s.TextChange(range_offset=3, range_length=1, text="x"))
    )
    assert orjson.loads(s.encode_event(event)) == {
        "sequence": 7,
        "timestamp": 1_700_000_000_000,
        "type": "action",
        "action": {
            "kind": "edit",
            "source": "user",
            "file": "src/a.ts",
            "diff": {"rangeOffset": 3, "rangeLength": 1, "text": "x"},
        },
    }


def test_nulls_kept_where_crowd_code_keeps_them_and_optional_fields_omitted():
    assert s.TabSwitch(file="a").to_wire() == {
        "kind": "tab_switch",
        "source": "user",
        "file": "a",
        "previousFile": None,
    }
    assert s.Observation().to_wire() == {"viewport": None, "activeTerminal": None}
    assert s.FileChange(file="a", change_type="delete").to_wire() == {
        "kind": "file_change",
        "source": "unknown",
        "file": "a",
        "changeType": "delete",
        "diff": None,
    }
    assert "reason" not in s.Edit(file="a", diff=s.TextChange(range_offset=0, range_length=0, text="")).to_wire()


def test_default_sources_per_kind():
    assert s.Edit(file="a", diff=s.TextChange(range_offset=0, range_length=0, text="")).source is s.Source.USER
    assert s.FileChange(file="a", change_type="create").source is s.Source.UNKNOWN
    assert s.AgentResponse(agent="claude", text="ok").source is s.Source.AGENT
    assert s.Panic(gap_start=1, gap_end=2).source is None
    assert "source" not in s.Panic(gap_start=1, gap_end=2).to_wire()


def _event(action: dict) -> bytes:
    return orjson.dumps({"sequence": 1, "timestamp": 5, "type": "action", "action": action})


@pytest.mark.parametrize(
    ("wire", "path", "problem"),
    [
        (
            _event({"kind": "edit", "file": "a", "diff": {"rangeOffset": "3", "rangeLength": 0, "text": ""}}),
            "action.diff.rangeOffset",
            "expected an integer",
        ),
        (
            _event({"kind": "edit", "file": "a", "diff": {"rangeOffset": -1, "rangeLength": 0, "text": ""}}),
            "action.diff.rangeOffset",
            "must be >= 0",
        ),
        (_event({"kind": "edit", "file": "a"}), "action.diff", "is required"),
        (
            _event({"kind": "edit", "file": 3, "diff": {"rangeOffset": 0, "rangeLength": 0, "text": ""}}),
            "action.file",
            "expected a string",
        ),
        (
            _event(
                {
                    "kind": "selection",
                    "file": "a",
                    "selectionStart": {"line": 0, "character": 0},
                    "selectionEnd": {"line": 0},
                    "selectedText": "",
                }
            ),
            "action.selectionEnd.character",
            "is required",
        ),
        (
            _event({"kind": "tab_switch", "file": "a", "previousFile": None, "colour": "red"}),
            "action.colour",
            "unknown field",
        ),
        (_event({"kind": "teleport"}), "action.kind", "unknown action kind"),
        (
            _event(
                {
                    "kind": "edit",
                    "source": "robot",
                    "file": "a",
                    "diff": {"rangeOffset": 0, "rangeLength": 0, "text": ""},
                }
            ),
            "action.source",
            "expected one of",
        ),
        (b'{"sequence": 0, "timestamp": 5, "type": "action", "action": {}}', "sequence", "expected an integer >= 1"),
        (b'{"sequence": 1, "timestamp": 5, "type": "thought"}', "type", "expected 'action'"),
        (
            b'{"sequence": 1, "timestamp": 5, "type": "observation", "observation": {"viewport": '
            b'{"file": "a", "startLine": 5, "endLine": 2, "content": "", "cursorPosition": {"line": 0, "character": 0}},'
            b' "activeTerminal": null}}',
            "endLine",
            "must be >= startLine",
        ),
        (b'{"sequence": 1, "timestamp": true, "type": "action"}', "timestamp", "expected epoch milliseconds"),
        (b"{not json", "", "not valid JSON"),
        (
            _event({"kind": "agent_session_end", "agent": "a", "exitCode": 2**63}),
            "action.exitCode",
            "does not fit in 64 bits",
        ),
        (b"[1, 2]", "", "must be a JSON object"),
    ],
)
def test_invalid_events_raise_errors_naming_the_field(wire, path, problem):
    with pytest.raises(SchemaError) as info:
        s.decode_event(wire)
    assert info.value.path == path
    assert problem in str(info.value)


def test_constructing_an_invalid_event_raises_naming_the_field():
    with pytest.raises(SchemaError, match="rangeLength: expected an integer"):
        s.TextChange(range_offset=0, range_length="1", text="")
    with pytest.raises(SchemaError, match=r"^file: is required"):
        s.FileOpen(file=None)
    with pytest.raises(SchemaError, match="cols: must be >= 1"):
        s.TerminalResize(terminal_id="t", cols=0, rows=1)
    with pytest.raises(SchemaError, match="exitCode: does not fit in 64 bits"):
        s.TerminalCommandEnd(terminal_id="t", exit_code=-(2**63) - 1)
    with pytest.raises(SchemaError, match="focused: expected a boolean"):
        s.FocusChange(focused=1)


def test_constructors_accept_wire_strings_for_enums():
    edit = s.Edit(file="a", diff=s.TextChange(range_offset=0, range_length=0, text=""), source="agent", reason="undo")
    assert edit.source is s.Source.AGENT
    assert edit.reason is s.EditReason.UNDO
