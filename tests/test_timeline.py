"""The merge of overlapping sessions into one timeline, on events as journaled (the real sessions:
tests/shell/test_shell_timeline.py)."""

from __future__ import annotations

from crowdcode_sdk.serialize.timeline import merge


def action(sequence: int, timestamp: int, kind: str, **fields: object) -> dict:
    return {"sequence": sequence, "timestamp": timestamp, "type": "action", "action": {"kind": kind, **fields}}


def test_order_ties_numbering_and_a_change_recorded_twice() -> None:
    editor = [
        action(1, 100, "edit", file="a.txt"),
        action(2, 105, "edit", file="a.txt"),
        action(3, 110, "file_save", file="a.txt", lastEditSequence=1, content={"sha256": "s1"}),
        action(4, 120, "file_change", file="c.txt", changeType="change", content={"sha256": "c1"}),
        action(5, 90, "edit", file="a.txt"),  # a clock step back: never moved before its own events
    ]
    terminal = [
        action(1, 105, "terminal_command", terminalId="t"),
        action(2, 121, "file_change", file="c.txt", changeType="change", content={"sha256": "c1"}),
        action(3, 122, "file_change", file="c.txt", changeType="change", content={"sha256": "c2"}),
        action(4, 123, "file_change", file="a.txt", changeType="delete"),
    ]
    merged = list(merge([("editor", editor), ("terminal", terminal)]))
    described = [(e["sequence"], e["timestamp"], e["action"]["kind"]) for e in merged]
    assert described == [
        (1, 100, "edit"),
        (2, 105, "edit"),  # a tie goes to the session that started first
        (3, 105, "terminal_command"),
        (4, 110, "file_save"),
        (5, 120, "file_change"),
        (6, 90, "edit"),  # after its own session's events, before anything later
        # the terminal's record of the same change of c.txt is dropped
        (7, 122, "file_change"),
        (8, 123, "file_change"),
    ]
    assert merged[3]["action"]["lastEditSequence"] == 1  # the editor's #1, not the terminal's
    assert editor[2]["action"]["lastEditSequence"] == 1 and editor[2]["sequence"] == 3  # copies, not changed


def test_the_owners_record_of_a_save_is_dropped_wherever_the_clocks_put_it() -> None:
    """The owner records an editor's save with ``savedIn`` naming the editor's session; two
    sessions' clocks may put that record a millisecond before the save itself. In a timeline
    holding the editor's session the save stands and the record goes; a save by a session outside
    the timeline stays, as the only record of that state of the disk."""
    owner = [
        action(1, 100, "terminal_command", terminalId="t"),
        action(2, 109, "file_change", file="a.txt", changeType="change", content={"sha256": "s1"}, savedIn="editor"),
        action(3, 115, "file_change", file="a.txt", changeType="change", content={"sha256": "s2"}),
        action(4, 120, "file_change", file="b.txt", changeType="change", content={"sha256": "b1"}, savedIn="gone"),
    ]
    editor = [
        action(1, 105, "edit", file="a.txt"),
        action(2, 110, "file_save", file="a.txt", lastEditSequence=1, content={"sha256": "s1"}),
    ]
    merged = list(merge([("owner", owner), ("editor", editor)]))
    described = [(e["timestamp"], e["action"]["kind"], e["action"].get("savedIn")) for e in merged]
    assert described == [
        (100, "terminal_command", None),
        (105, "edit", None),
        (110, "file_save", None),
        (115, "file_change", None),
        (120, "file_change", "gone"),
    ]
    assert [e["sequence"] for e in merged] == [1, 2, 3, 4, 5]
    assert merged[2]["action"]["lastEditSequence"] == 2
