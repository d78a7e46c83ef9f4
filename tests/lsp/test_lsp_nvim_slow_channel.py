"""Neovim's LSP client on a busy machine: its messages reach ``crowdcode lsp`` seconds after the
writes they explain (``tests/slow_channel.py`` holds them back, far longer than the recorder's one
fixed wait). The server's ``crowdcode/sync`` request is the barrier: its answer comes after every
notification sent before it, so a ``:w`` is the person's save however late its ``didSave``, and a
change no ``didSave`` explains is still another program's."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from crowdcode_sdk.attribution.engine import HINT_WAIT_MS
from crowdcode_sdk.attribution.git import FORWARD_MS

from ..attribution_support import ShellFacts
from .lsp_harness import assert_changed_by, events, lsp_events
from .test_lsp_nvim_saves import drive, others, saved, sha

pytestmark = pytest.mark.timeout(180)

DELAY_MS = 3 * (FORWARD_MS + HINT_WAIT_MS)
"""The client's messages arrive this late: well past the recorder's one wait for late messages."""

SLOW = (sys.executable, str(Path(__file__).parents[1] / "slow_channel.py"), str(DELAY_MS))


def test_a_save_right_after_typing_is_the_users_when_the_clients_messages_arrive_late(home, workspace, tmp_path):
    """``:w`` 20 ms after typing, twice: the write is on disk ~2 s before its debounced didChange
    and its didSave reach the server. Each save is decided while Neovim still runs."""
    path = workspace / "f.txt"
    path.write_bytes(b"one\ntwo\n")
    steps = [{"sync": True}, {"keys": "GAabc<Esc>"}, {"wait": 20}, {"cmd": "write"}, {"wait": DELAY_MS + 1500}]
    steps += [{"keys": "ggAdef<Esc>"}, {"wait": 20}, {"cmd": "write"}, {"wait": DELAY_MS + 1500}]
    buffers = drive(workspace, tmp_path, [path], steps, channel=SLOW)
    assert buffers == {"f.txt": "onedef\ntwoabc\n"}
    evs = events(workspace)
    assert path.read_bytes() == b"onedef\ntwoabc\n"
    assert others(evs) == []
    saves = saved(evs, "f.txt")
    assert len(saves) == 2 and saves[-1].content.sha256 == sha(path)


def test_another_programs_change_is_its_own_when_the_clients_messages_arrive_late(home, workspace, tmp_path):
    """``sed -i`` from a recorded shell on a file open, unmodified, in Neovim, which then reloads it
    (``:checktime``): no ``didSave`` comes, and the barrier's answer says so."""
    path = workspace / "f.txt"
    path.write_text("one\ntwo\nthree\n")
    shell = ShellFacts(workspace)

    def sed() -> None:
        shell.run(["sed", "-i", "s/two/TWO/", str(path)], "sed -i s/two/TWO/ f.txt")

    steps = [{"sync": True}, {"touch": str(tmp_path / "ready")}, {"until_exists": str(tmp_path / "go")}]
    steps += [{"wait": 300}, {"cmd": "checktime"}, {"wait": DELAY_MS + 1500}]
    try:
        buffers = drive(workspace, tmp_path, [path], steps, meanwhile=sed, channel=SLOW)
    finally:
        shell.close()
    assert buffers == {"f.txt": "one\nTWO\nthree\n"}
    evs = lsp_events()
    assert_changed_by(evs, ["f.txt"], "sed -i s/two/TWO/ f.txt")
    assert [e.payload for e in evs if e.kind == "edit" and e.payload.source == "user"] == []
