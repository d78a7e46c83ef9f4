"""Neovim's built-in LSP client through ``crowdcode lsp``: what Neovim writes for a person's
``:w`` is the person's save, whatever the client's document says about the final line break, the
size or the timing of its (debounced) changes."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from crowdcode_sdk.schema import Event, FileSave

from ..attribution_support import ShellFacts
from ..nvim_driver import wait_for
from .lsp_harness import SERVER, actions, assert_changed_by, events, lsp_events
from .test_lsp_nvim import nvim

SCRIPT = Path(__file__).with_name("nvim_steps.lua")

pytestmark = pytest.mark.timeout(120)


def drive(
    workspace: Path,
    tmp_path: Path,
    files: list[Path],
    steps: list[dict[str, Any]],
    debounce: int | None = None,
    meanwhile: Callable[[], None] | None = None,
    channel: tuple[str, ...] = (),
) -> dict[str, str]:
    """Run Neovim with its LSP client on ``files`` through ``steps``; its buffers' texts at the end.
    ``meanwhile`` runs when Neovim reaches a ``touch`` of ``tmp_path / "ready"``, and Neovim goes on
    at an ``until_exists`` of ``tmp_path / "go"`` once it returned. ``channel``: a command the
    server runs under (``tests/slow_channel.py`` holding the client's messages back)."""
    out = tmp_path / "result.json"
    env = {
        **os.environ,
        "TEST_FILES": json.dumps([str(f) for f in files]),
        "TEST_STEPS": json.dumps(steps),
        "TEST_CMD": json.dumps([*channel, *SERVER, "--log-file", str(tmp_path / "lsp.log")]),
        "TEST_OUT": str(out),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
        "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
        "XDG_STATE_HOME": str(tmp_path / "xdg-state"),
    }
    if debounce is not None:
        env["TEST_DEBOUNCE"] = str(debounce)
    with subprocess.Popen(
        [nvim(), "--headless", "--clean", "-n", "-c", f"luafile {SCRIPT}"],
        env=env,
        cwd=workspace,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as editor:
        if meanwhile is not None:
            wait_for(lambda: (tmp_path / "ready").exists() or editor.poll() is not None, 60, "Neovim to hand over")
            meanwhile()
            (tmp_path / "go").touch()
        _, stderr = editor.communicate(timeout=90)
    result = json.loads(out.read_text()) if out.exists() else {}
    assert editor.returncode == 0, (result, stderr)
    return result["buffers"]


def saved(evs: list[Event], file: str) -> list[FileSave]:
    return [e.payload for e in evs if isinstance(e.payload, FileSave) and e.payload.file == file]


def others(evs: list[Event]) -> list[Event]:
    """Anything that says someone other than the person changed a file."""
    return [e for e in evs if e.kind == "file_change" or (e.kind == "edit" and e.payload.source != "user")]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("initial", "setup", "expected"),
    [
        pytest.param(b"one\ntwo", "", b"one\ntwoX\n", id="noeol-fixeol"),
        pytest.param(b"one\ntwo", "setlocal nofixeol", b"one\ntwoX", id="noeol-nofixeol"),
        pytest.param(b"one\r\ntwo\r\n", "", b"one\r\ntwoX\r\n", id="crlf"),
        pytest.param(b"one\r\ntwo", "", b"one\r\ntwoX\r\n", id="crlf-noeol"),
    ],
)
def test_a_save_is_the_users_whatever_the_final_line_break(home, workspace, tmp_path, initial, setup, expected):
    path = workspace / "f.txt"
    path.write_bytes(initial)
    steps = [{"cmd": setup}] if setup else []
    steps += [{"keys": "GAX<Esc>"}, {"wait": 300}, {"cmd": "write"}, {"wait": 600}]
    drive(workspace, tmp_path, [path], steps)
    evs = events(workspace)
    assert path.read_bytes() == expected
    assert others(evs) == []
    saves = saved(evs, "f.txt")
    assert saves and saves[-1].content.sha256 == sha(path)


def test_an_emptied_file_is_saved_by_the_user(home, workspace, tmp_path):
    path = workspace / "f.txt"
    path.write_bytes(b"one\ntwo\n")
    steps = [{"keys": "ggdG"}, {"wait": 300}, {"cmd": "write"}, {"wait": 600}, {"keys": "ihello<Esc>"}]
    steps += [{"wait": 300}, {"cmd": "write"}, {"wait": 600}]
    drive(workspace, tmp_path, [path], steps)
    evs = events(workspace)
    assert path.read_bytes() == b"hello\n"
    assert others(evs) == []
    saves = saved(evs, "f.txt")
    assert len(saves) == 2 and saves[-1].content.sha256 == sha(path)


def test_a_ten_megabyte_file_is_saved_by_the_user(home, workspace, tmp_path):
    path = workspace / "big.txt"
    line = "0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\n"
    path.write_text(line * (10_000_000 // len(line)))
    # A person looks at the file before changing it: its 10 MB reach the recorder first.
    steps = [{"sync": True}, {"keys": "ggAX<Esc>Gox<Esc>"}, {"wait": 500}, {"cmd": "write"}, {"wait": 1500}]
    drive(workspace, tmp_path, [path], steps)
    evs = events(workspace)
    assert path.stat().st_size > 9_000_000
    assert others(evs) == []
    saves = saved(evs, "big.txt")
    assert saves and saves[-1].content.sha256 == sha(path)


def test_a_save_right_after_typing_is_the_users_despite_the_debounce(home, workspace, tmp_path):
    """Neovim's client sends didChange 150 ms after the last keystroke: a ``:w`` 20 ms after typing
    reaches the disk before the edits it holds reach the recorder. Typing goes on after the save.
    (Writes closer together than the watcher's 150 ms window are one change: the saves are apart.)"""
    path = workspace / "f.txt"
    path.write_bytes(b"one\ntwo\n")
    steps = [{"sync": True}, {"keys": "GAabc<Esc>"}, {"wait": 20}, {"cmd": "write"}, {"wait": 400}]
    steps += [{"keys": "ggAdef<Esc>"}, {"wait": 20}, {"cmd": "write"}, {"keys": "Gox<Esc>"}, {"wait": 1000}]
    drive(workspace, tmp_path, [path], steps)
    evs = events(workspace)
    assert path.read_bytes() == b"onedef\ntwoabc\n"
    assert others(evs) == []
    assert [e for e in actions(evs, "edit") if e.reason is not None] == []
    saves = saved(evs, "f.txt")
    assert len(saves) == 2 and saves[-1].content.sha256 == sha(path)
    # The edit typed after the last save is not in it.
    last_edit = [e for e in evs if e.kind == "edit"][-1]
    assert saves[-1].last_edit_sequence < last_edit.sequence


def test_another_programs_change_reloaded_by_the_client_is_not_the_users(home, workspace, tmp_path):
    """``sed -i`` from a recorded shell on three open files, then ``:checktime`` (autoread): the
    visible and the hidden buffer are reloaded, which Neovim's client sends as didClose and didOpen
    with the new text (clients that send a didChange: test_lsp_reloads.py); the third has an unsaved
    edit elsewhere and is not reloaded. Each change is ``sed``'s, once; no
    reload becomes a user edit or a user save; the unsaved edit stays the user's, unsaved."""
    files = {name: workspace / name for name in ("shown.txt", "hidden.txt", "dirty.txt")}
    for path in files.values():
        path.write_text("one\ntwo\nthree\n")
    shell = ShellFacts(workspace)

    def sed() -> None:
        shell.run(["sed", "-i", "s/two/TWO/", *map(str, files.values())], "sed -i s/two/TWO/ *.txt")

    # A modified buffer is kept as it is (a person answering Neovim's W12 warning with "OK").
    steps = [{"cmd": "autocmd FileChangedShell dirty.txt let v:fcs_choice = ''"}, {"sync": True}]
    steps += [{"cmd": "buffer dirty.txt"}, {"keys": "ggAX<Esc>"}, {"cmd": "buffer shown.txt"}, {"wait": 300}]
    steps += [{"touch": str(tmp_path / "ready")}, {"until_exists": str(tmp_path / "go")}]
    # :checktime reloads the shown buffer; a hidden one is reloaded when checked by name.
    steps += [{"cmd": "checktime"}, {"cmd": "checktime hidden.txt"}, {"wait": 1500}]
    try:
        buffers = drive(workspace, tmp_path, list(files.values()), steps, meanwhile=sed)
    finally:
        shell.close()
    assert buffers == {
        "shown.txt": "one\nTWO\nthree\n",
        "hidden.txt": "one\nTWO\nthree\n",
        "dirty.txt": "oneX\ntwo\nthree\n",
    }
    evs = lsp_events()
    assert_changed_by(evs, files, "sed -i s/two/TWO/ *.txt")
    edits = actions(evs, "edit")
    assert [(e.file, e.diff.text) for e in edits if e.source == "user"] == [("dirty.txt", "X")]
    reloads = [e for e in edits if e.reason == "reload"]
    assert sorted(e.file for e in reloads) == ["hidden.txt", "shown.txt"]
    assert {e.source for e in reloads} == {"unknown"}
