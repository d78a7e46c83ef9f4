"""Unit tests of the shim's small parts: terminal tails and cast files, held-back counting,
whole-text changes."""

from __future__ import annotations

import orjson
from crowdcode_lsp.documents import Documents
from crowdcode_lsp.recorder import HeldBack
from crowdcode_lsp.terminals import TAIL_LINES, Terminals

from crowdcode_sdk.schema import Event, FocusChange


def test_terminal_tail_drops_escapes_applies_carriage_returns_and_keeps_the_last_lines(tmp_path):
    terminals = Terminals(tmp_path)
    state = terminals.output("t1", "bash", "\x1b[32mok\x1b[0m\r\nprogress 10%\rprogress 99%\rdone\r\n", 1_000)
    assert list(state.lines)[-3:] == ["ok", "done", ""]
    terminals.output("t1", None, "par", 1_100)
    terminals.output("t1", None, "tial\n" + "".join(f"line {i}\n" for i in range(40)), 1_200)
    assert len(state.lines) == TAIL_LINES and state.lines[-2] == "line 39"
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
