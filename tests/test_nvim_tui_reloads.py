"""Another program's change to files open in the real Neovim TUI (in tmux), recorded by the plugin
or by Neovim's own LSP client (default 150 ms debounce) on the crowdcode shim. ``sed -i`` from a
recorded shell changes four open files: the one shown (``:checktime`` reloads it), a background
buffer (reloaded when the person goes to it), one whose edit was undone back to its saved text
(Neovim no longer calls it modified, and reloads it), and one with an unsaved edit elsewhere
(Neovim's W12 warning, answered "OK": the buffer is kept; then ``:w``, whose "the file has been
changed" question is answered "y"), and a fifth modified like it whose W12 is answered "Load File"
(the person's edit is dropped for the disk's text). Each change is ``sed``'s, recorded once; no
reload is a user edit; the only user save is the last ``:w``, of what the person typed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from crowdcode_sdk.consent import set_consent
from crowdcode_sdk.schema import Event
from crowdcode_sdk.store import Store

from .attribution_support import ShellFacts
from .lsp.lsp_harness import SERVER
from .lsp.test_lsp_nvim_random import ATTACH
from .nvim_driver import wait_for
from .test_nvim_quit import Tui
from .test_nvim_tui_privacy import _shim_has_the_buffer

pytestmark = pytest.mark.timeout(240)

TEXT = "one\ntwo\nthree\n"
FILES = ("f.txt", "hidden.txt", "undone.txt", "dirty.txt", "loaded.txt")
SED = "sed -i s/two/TWO/ f.txt hidden.txt undone.txt dirty.txt loaded.txt"


def _lsp_client(ws: Path, tmp_path: Path) -> list[str]:
    """Neovim arguments that attach its LSP client to every buffer, with the client's own debounce."""
    script = tmp_path / "attach.lua"
    arguments = f"local cmd, root = vim.json.decode({json.dumps(json.dumps(SERVER))}), {json.dumps(str(ws))}"
    attach = ATTACH.replace("local cmd, root = ...", arguments).replace(
        "    flags = { debounce_text_changes = 0 },\n", ""
    )
    assert attach != ATTACH.replace("local cmd, root = ...", arguments)
    script.write_text(attach)
    return ["-c", f"luafile {script}"]


def _recorded() -> list[Event]:
    """The editor's session's events (the recorded shell's session records nothing of files)."""
    (info,) = [i for i in Store().sessions() if i.metadata.get("adapter") in ("nvim", "lsp")]
    return list(Store().events(info))


def _user_edits(file: str) -> list[str]:
    return [e.payload.diff.text for e in _recorded() if e.kind == "edit" and e.payload.file == file]


def _shown(tui: Tui, name: str, line: str) -> None:
    """``name`` is the current buffer (its status line) and ``line`` is on the screen."""
    wait_for(lambda: name in tui.screen() and line in tui.screen().splitlines(), what=f"{line!r} of {name}")


def _started(home: Path, tmp_path: Path, ws: Path, recorder: str) -> Tui:
    """Neovim's TUI on ``ws/f.txt``, recorded by the plugin or by its LSP client on the shim."""
    set_consent("declined")  # no consent note on the screen
    return Tui(home, ws, tmp_path, recorder=_lsp_client(ws, tmp_path) if recorder == "lsp" else None)


def _recording(tui: Tui, recorder: str) -> None:
    """Returns once the recorder has the shown buffer (the LSP client: once it sent the shim its didOpen)."""
    wait_for(lambda: Store().sessions(), what="the recorder's session")
    tui.wait_screen("f.txt")
    if recorder == "lsp":
        wait_for(lambda: _shim_has_the_buffer(tui), what="Neovim's LSP client to open the buffer in the shim")


def _append(tui: Tui, name: str, line: str, text: str) -> None:
    """Type ``text`` at the end of ``name``'s first (``line`` "one") or last line, as a person
    does: the motion, ``A``, the text, Escape; returns once the screen shows it."""
    tui.keys(*(("g", "g") if line == "one" else ("G",)), "A")
    tui.wait_screen("-- INSERT --")
    tui.type(text)
    tui.keys("Escape")
    _shown(tui, name, line + text)


@pytest.mark.parametrize("recorder", ["plugin", "lsp"])
def test_another_programs_change_to_open_buffers_is_its_own(home: Path, tmp_path: Path, recorder: str) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    for name in FILES:
        (ws / name).write_text(TEXT)
    tui = _started(home, tmp_path, ws, recorder)
    shell = None
    try:
        _recording(tui, recorder)
        for name in ("hidden.txt", "undone.txt", "loaded.txt", "dirty.txt"):
            tui.command(f":e {name}")
            _shown(tui, name, "three")
        _append(tui, "dirty.txt", "three", "Z")
        for name, last_line, line, typed in (
            ("loaded.txt", "three", "one", "X"),
            ("dirty.txt", "threeZ", "one", "X"),
            ("undone.txt", "three", "three", "Y"),
        ):
            tui.command(f":b {name}")
            _shown(tui, name, last_line)
            _append(tui, name, line, typed)
        tui.keys("u")
        _shown(tui, "undone.txt", "three")
        tui.command(":b f.txt")
        _shown(tui, "f.txt", "three")
        wait_for(lambda: "X" in _user_edits("dirty.txt"), what="the edit of dirty.txt recorded")
        wait_for(lambda: "X" in _user_edits("loaded.txt"), what="the edit of loaded.txt recorded")
        wait_for(lambda: len(_user_edits("undone.txt")) >= 2, what="the edit of undone.txt and its undo recorded")

        shell = ShellFacts(ws)
        shell.run(["sed", "-i", "s/two/TWO/", *FILES], SED)
        tui.command(":checktime")  # as on focus: the shown buffer is reloaded
        _shown(tui, "f.txt", "TWO")
        tui.command(":b hidden.txt")  # going to a buffer checks its file
        _shown(tui, "hidden.txt", "TWO")
        tui.command(":b undone.txt")
        _shown(tui, "undone.txt", "TWO")
        tui.command(":b loaded.txt")
        tui.wait_screen("W12: Warning")
        tui.keys("L")  # (L)oad File: the disk's text replaces the person's edit
        _shown(tui, "loaded.txt", "TWO")
        assert "oneX" not in tui.screen()
        tui.command(":b dirty.txt")
        tui.wait_screen("W12: Warning")
        tui.keys("O")  # [O]K: keep the buffer
        _shown(tui, "dirty.txt", "oneX")
        assert "two" in tui.screen().splitlines()
        wait_for(lambda: len([e for e in _recorded() if e.kind == "file_change"]) == len(FILES), what="sed's changes")
        tui.command(":w")
        tui.wait_screen("Do you really want to write to it (y/n)?")
        tui.keys("y")
        wait_for(lambda: [e for e in _recorded() if e.kind == "file_save"], what="the save of dirty.txt")
        tui.keys("Enter")
        tui.gone_after(":qa", lambda: tui.command(":qa"), seconds=30)
    finally:
        tui.close()
        if shell is not None:
            shell.close()

    assert (ws / "dirty.txt").read_text() == "oneX\ntwo\nthreeZ\n"
    assert all((ws / name).read_text() == "one\nTWO\nthree\n" for name in FILES if name != "dirty.txt")
    recorded = _recorded()
    changes = [e.payload for e in recorded if e.kind == "file_change"]
    assert sorted(c.file for c in changes) == sorted(FILES)
    assert {(c.source, c.evidence.command if c.evidence else None) for c in changes} == {("external", SED)}
    edits = [e.payload for e in recorded if e.kind == "edit"]
    user = [e for e in edits if e.source == "user"]
    assert not [e for e in user if "TWO" in e.diff.text or e.file in ("f.txt", "hidden.txt")], user
    assert {e.file for e in user} == {"dirty.txt", "undone.txt", "loaded.txt"}
    assert [e.diff.text for e in user if e.file == "dirty.txt"] == ["Z", "X"]
    assert [e.diff.text for e in user if e.file == "loaded.txt"] == ["X"]
    assert {e.source for e in edits if e.reason == "reload"} <= {"unknown"}
    if recorder == "plugin":  # (Neovim's LSP client sends a reload as the buffer closed and opened again)
        reloaded = sorted(e.file for e in edits if e.reason == "reload")
        assert reloaded == ["f.txt", "hidden.txt", "loaded.txt", "undone.txt"]
    (saved,) = [e.payload for e in recorded if e.kind == "file_save"]
    assert saved.file == "dirty.txt"
    assert saved.content.sha256 == hashlib.sha256((ws / "dirty.txt").read_bytes()).hexdigest()
    assert [e.kind for e in recorded if e.kind == "workspace_snapshot"][1:] == []


@pytest.mark.parametrize("recorder", ["plugin", "lsp"])
def test_the_persons_saves_in_the_tui_are_theirs(home: Path, tmp_path: Path, recorder: str) -> None:
    """The person's own writes, typed into the TUI as one burst each (``:w`` within milliseconds of
    the last keystroke, inside the LSP client's 150 ms debounce): a file without a final line
    break kept so (``'nofixeol'``), then emptied (``ggdG``), then typed into again. Every write is
    a user ``file_save``; nothing says another program changed the file."""
    ws = tmp_path / "ws"
    ws.mkdir()
    path = ws / "f.txt"
    path.write_bytes(b"one\ntwo")
    tui = _started(home, tmp_path, ws, recorder)

    def saves() -> list:
        return [e.payload for e in _recorded() if e.kind == "file_save"]

    try:
        _recording(tui, recorder)
        tui.command(":setlocal nofixeol")
        for burst, on_disk in (
            (["G", "A", "X", "Escape", ":", "w", "Enter"], b"one\ntwoX"),
            (["g", "g", "d", "G", ":", "w", "Enter"], b""),
            (["i", "h", "i", "Escape", ":", "w", "Enter"], b"hi"),
        ):
            count = len(saves())
            tui.keys(*burst)
            wait_for(lambda data=on_disk: path.read_bytes() == data, what=f"{on_disk!r} written")
            wait_for(lambda before=count: len(saves()) > before, what=f"the save of {on_disk!r}")
        tui.gone_after(":qa", lambda: tui.command(":qa"), seconds=30)
    finally:
        tui.close()
    recorded = _recorded()
    assert [e.kind for e in recorded if e.kind == "file_change"] == []
    edits = [e.payload for e in recorded if e.kind == "edit"]
    # (The plugin's buffer holds the line break Neovim does not write: the open says so, as a reload.)
    assert [e for e in edits if e.source != "user" and e.reason != "reload"] == []
    assert [e.diff.text for e in edits if e.reason == "reload"] == (["\n"] if recorder == "plugin" else [])
    last = saves()[-1]
    assert len(saves()) == 3 and last.content.sha256 == hashlib.sha256(b"hi").hexdigest()
