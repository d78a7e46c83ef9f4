"""LSP clients on a busy machine (Neovim's, and pygls's speaking as VS Code): their messages
reach ``crowdcode lsp`` seconds after the writes they explain (``tests/slow_channel.py`` holds them
back, far longer than the recorder's one fixed wait). The server's ``crowdcode/sync`` request is
the barrier: its answer comes after every notification sent before it, so a save is the person's
however late its ``didSave``, and a change no ``didSave`` explains is still another program's."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from lsprotocol import types

from crowdcode_sdk.attribution.engine import HINT_WAIT_MS
from crowdcode_sdk.attribution.git import FORWARD_MS

from ..attribution_support import ShellFacts
from .lsp_harness import assert_changed_by, change, events, lsp_events, run, shim, uri
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


TEXT = "one\ntwo\nthree\n"


def opened(path: Path) -> types.DidOpenTextDocumentParams:
    return types.DidOpenTextDocumentParams(types.TextDocumentItem(uri(path), "plaintext", 1, TEXT))


def changed(
    path: Path, version: int, *changes: types.TextDocumentContentChangeEvent
) -> types.DidChangeTextDocumentParams:
    return types.DidChangeTextDocumentParams(types.VersionedTextDocumentIdentifier(version, uri(path)), list(changes))


def test_a_vscode_clients_save_is_the_users_when_its_messages_arrive_late(home, workspace):
    """pygls's client speaking as VS Code: it sends its edit, writes the file and sends didSave, all
    of which reach the server 2.25 s later; its answer to ``crowdcode/sync`` (MethodNotFound: it has
    no handler) comes behind them."""
    path = workspace / "notes.txt"
    path.write_text(TEXT)

    async def scenario():
        async with shim(home, workspace, client_name="Visual Studio Code", channel=SLOW) as client:
            client.text_document_did_open(opened(path))
            await client.roundtrip()
            client.text_document_did_change(changed(path, 2, change((0, 3), (0, 3), "X")))
            await asyncio.to_thread(path.write_text, "oneX\ntwo\nthree\n")
            client.text_document_did_save(types.DidSaveTextDocumentParams(types.TextDocumentIdentifier(uri(path))))
            await client.roundtrip()

    run(scenario())
    evs = events(home)
    assert [e.kind for e in evs if e.kind in ("file_save", "file_change")] == ["file_save"]
    assert [(e.payload.source, e.payload.reason, e.payload.diff.text) for e in evs if e.kind == "edit"] == [
        ("user", None, "X")
    ]


def test_a_vscode_clients_reload_sent_late_as_an_edit_is_a_reload(home, workspace):
    """``sed -i`` on a file open in a VS Code client, which reloads it as a small edit (no didSave):
    the edit reaches the server 2.25 s later, before the change is decided (its barrier's answer is
    behind it), and is recorded as a reload; the change is ``sed``'s."""
    path = workspace / "notes.txt"
    path.write_text(TEXT)
    shell = ShellFacts(workspace)

    async def scenario():
        async with shim(home, workspace, client_name="Visual Studio Code", channel=SLOW) as client:
            client.text_document_did_open(opened(path))
            await client.roundtrip()
            await asyncio.to_thread(shell.run, ["sed", "-i", "s/two/TWO/", str(path)], "sed -i s/two/TWO/ notes.txt")
            client.text_document_did_change(changed(path, 2, change((1, 0), (1, 3), "TWO")))
            await client.roundtrip()
            await asyncio.sleep(1)

    try:
        run(scenario())
    finally:
        shell.close()
    evs = lsp_events()
    assert_changed_by(evs, ["notes.txt"], "sed -i s/two/TWO/ notes.txt")
    assert [(e.payload.source, e.payload.reason) for e in evs if e.kind == "edit"] == [("unknown", "reload")]
