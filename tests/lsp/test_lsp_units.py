"""Unit tests of the shim's small parts: terminal tails and cast files, held-back counting,
whole-text changes."""

from __future__ import annotations

import orjson
from crowdcode_lsp.documents import Documents
from crowdcode_lsp.recorder import HeldBack
from crowdcode_lsp.terminals import TAIL_LINES, Terminals

from crowdcode_sdk.schema import Event, FocusChange


def test_terminal_rows_have_no_escapes_and_show_carriage_return_redraws_as_a_screen_does(tmp_path):
    terminals = Terminals(tmp_path)
    # What bash with readline and VS Code's shell integration really emit: keypad modes (ESC = and
    # ESC >), a bracketed-paste toggle, an OSC 633 mark, a charset switch, colours.
    terminals.output("t1", "bash", "\x1b[?2004l\x1b>\x1b]633;C\x07\x1b(B\x1b[32mok\x1b[0m\r\n", 900)
    state = terminals.output("t1", None, "progress 10%\rprogress 99%\rdone\r\n\x1b=\x1b[?2004hsplit \x1b[3", 1_000)
    terminals.output("t1", None, "1mred\x1b[0m", 1_050)
    assert state.viewport().viewport[-3:] == ["ok", "doneress 99%", "split red"]
    terminals.output("t1", None, "\n" + "".join(f"line {i}\n" for i in range(40)), 1_200)
    rows = state.viewport().viewport
    assert len(rows) == TAIL_LINES and rows[-2] == "line 39" and not any("\x1b" in row for row in rows)
    assert state.viewport().name == "bash"


def test_terminal_cast_file_is_asciicast_and_panic_cuts_it(tmp_path):
    terminals = Terminals(tmp_path)
    terminals.output("terminal-1", "bash", "early\n", 5_000)
    terminals.output("terminal-1", "bash", "late\n", 9_500)
    path = tmp_path / "terminals" / "terminal-1.cast"
    header, *events = path.read_bytes().splitlines()
    assert orjson.loads(header) == {"version": 2, "width": 80, "height": 24, "timestamp": 5}
    assert [orjson.loads(e) for e in events] == [[0.0, "o", "early\n"], [4.5, "o", "late\n"]]
    assert path.stat().st_mode & 0o777 == 0o600
    terminals.remove_since(9_000)
    header, *events = path.read_bytes().splitlines()
    assert [orjson.loads(e)[2] for e in events] == ["early\n"]
    assert list(terminals.get("terminal-1").lines) == [""]


def test_held_back_counts_recent_events_and_forgets_removed_ones():
    held = HeldBack()
    for t in (1_000, 2_000, 3_000, 4_000):
        held.add(Event(1, t, FocusChange(focused=True)))
    assert held.count(now_ms=4_500, window_ms=2_000) == 2
    held.remove_since(4_000)
    assert held.count(now_ms=4_500, window_ms=2_000) == 1


def test_whole_text_changes_become_the_smallest_replacement():
    doc = Documents().open("file:///x.txt", "héllo wörld\n", 1)
    change = doc.apply_full("héllo, 🌍 wörld\n")
    assert (change.range_offset, change.range_length, change.text) == (5, 0, ", 🌍")
    assert doc.apply_full("héllo, 🌍 wörld\n") is None
    change = doc.apply_full("")
    assert (change.range_offset, change.range_length, change.text) == (0, 16, "")
