"""A person's own save in Neovim is recorded as a ``file_save``, never as another program's
change, however Neovim writes it: an emptied buffer, a file without a final line break (kept with
'nofixeol', or added by the default 'fixeol'), CRLF, and a file over the 1 MiB text limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from crowdcode_sdk.positions import apply_change
from crowdcode_sdk.schema import FileSave

from .conftest import only_session
from .nvim_driver import editor, events, finished_session, settle, wait_for, wait_recording
from .test_nvim import disk, replayed_disk

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    return path


def saves_of(file: str) -> int:
    return [e.payload.file for e in events(only_session()) if isinstance(e.payload, FileSave)].count(file)


def save_and_wait(nvim, file: str, keys: str) -> None:
    count = saves_of(file)
    nvim.input(keys)
    settle(nvim)
    wait_for(lambda: saves_of(file) > count, what=f"the save of {file}")


@pytest.mark.parametrize("fixeol", [True, False])
def test_a_file_without_a_final_line_break_is_saved_by_the_user(home: Path, ws: Path, fixeol: bool) -> None:
    path = ws / "noeol.txt"
    path.write_bytes(b"first\nsecond")
    with editor(ws, files=[str(path)]) as nvim:
        wait_recording(nvim)
        if not fixeol:
            nvim.command("setlocal nofixeol")
        save_and_wait(nvim, "noeol.txt", "ggAX<Esc>:w<CR>")
        save_and_wait(nvim, "noeol.txt", "GAY<Esc>:w<CR>")
        save_and_wait(nvim, "noeol.txt", "Gonew<Esc>:w<CR>")
    assert path.read_bytes() == (b"firstX\nsecondY\nnew\n" if fixeol else b"firstX\nsecondY\nnew")
    info = finished_session()
    recorded = events(info)
    assert [e for e in recorded if e.kind in ("file_change", "workspace_snapshot")][1:] == []
    assert replayed_disk(info) == disk(ws)


def test_a_file_over_the_text_limit_is_saved_by_the_user(home: Path, ws: Path) -> None:
    """A 10 MB file is never diffed or stored, but its save is still explained: by the hash of the
    buffer the editor wrote."""
    path = ws / "big.txt"
    line = "0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\n"
    path.write_text(line * (10_000_000 // len(line)))
    with editor(ws, files=[str(path)]) as nvim:
        wait_recording(nvim)
        # A person looks at the file before changing it: its 10 MB reach the recorder first.
        wait_for(lambda: any(e.kind == "file_open" for e in events(only_session())), what="the open of big.txt")
        save_and_wait(nvim, "big.txt", "ggAX<Esc>Gox<Esc>:w<CR>")
        save_and_wait(nvim, "big.txt", "ggdd:w<CR>")
    assert path.stat().st_size > 9_000_000
    info = finished_session()
    recorded = events(info)
    assert [e.kind for e in recorded if e.kind == "file_change"] == []
    saves = [e.payload for e in recorded if isinstance(e.payload, FileSave)]
    import hashlib

    assert saves[-1].content is not None and saves[-1].content.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_another_programs_change_reloaded_by_checktime_is_not_the_users(home: Path, ws: Path) -> None:
    """``sed -i`` from a recorded shell on three open files, then ``:checktime`` (autoread): the
    shown and the hidden buffer are reloaded, the one with an unsaved edit elsewhere is not. Each
    change is ``sed``'s, once; the reloads are no user edit or save; the unsaved edit stays."""
    from .attribution_support import ShellFacts

    files = {name: ws / name for name in ("shown.txt", "hidden.txt", "dirty.txt")}
    for path in files.values():
        path.write_text("one\ntwo\nthree\n")
    shell = ShellFacts(ws)
    try:
        with editor(ws, files=[str(p) for p in files.values()]) as nvim:
            wait_recording(nvim)
            nvim.command("autocmd FileChangedShell dirty.txt let v:fcs_choice = ''")  # W12 answered "OK"
            nvim.command("buffer hidden.txt")  # loaded once shown, then hidden ('hidden' is on)
            nvim.command("buffer dirty.txt")
            nvim.input("ggAX<Esc>")
            nvim.command("buffer shown.txt")
            settle(nvim)
            shell.run(["sed", "-i", "s/two/TWO/", *map(str, files.values())], "sed -i s/two/TWO/ *.txt")
            nvim.command("checktime")
            nvim.command("checktime hidden.txt")  # a hidden buffer is reloaded when checked by name
            settle(nvim)
            texts = {name: "\n".join(nvim.call("getbufline", name, 1, "$")) for name in files}
            assert texts == {
                "shown.txt": "one\nTWO\nthree",
                "hidden.txt": "one\nTWO\nthree",
                "dirty.txt": "oneX\ntwo\nthree",
            }
            wait_for(
                lambda: len([e for e in events(nvim_session()) if e.kind == "file_change"]) == 3, what="sed's changes"
            )
    finally:
        shell.close()
    evs = events(nvim_session())
    changes = [e.payload for e in evs if e.kind == "file_change"]
    assert sorted(c.file for c in changes) == sorted(files)
    assert {(c.source, c.evidence.command if c.evidence else None) for c in changes} == {
        ("external", "sed -i s/two/TWO/ *.txt")
    }
    assert [e for e in evs if e.kind == "file_save"] == []
    edits = [e.payload for e in evs if e.kind == "edit"]
    assert [(e.file, e.diff.text) for e in edits if e.source == "user"] == [("dirty.txt", "X")]
    assert sorted(e.file for e in edits if e.reason == "reload") == ["hidden.txt", "shown.txt"]
    assert {e.source for e in edits if e.reason == "reload"} == {"unknown"}


def nvim_session():
    from crowdcode_sdk.store import Store

    (info,) = [s for s in Store().sessions() if s.metadata.get("adapter") == "nvim"]
    return info


@pytest.mark.parametrize("run", [1, 2])
def test_a_restarted_recorder_takes_the_disk_as_baseline_and_the_buffer_as_unsaved(
    home: Path, ws: Path, run: int
) -> None:
    """The recorder is killed while a buffer has unsaved edits; the restarted one opens it while its
    background scan of a 3,000-file workspace runs. Its ``file_open`` holds the disk's bytes, the
    unsaved text follows as an edit, and the next ``:w`` is the user's save, in both sessions."""
    import hashlib
    import os
    import signal

    for i in range(3000):
        (ws / f"f{i:04d}.txt").write_text(f"file {i}\n" * 20)
    path = ws / "a.txt"
    path.write_text("alpha\nbeta\n")
    with editor(ws, files=[str(path)]) as nvim:
        wait_recording(nvim)
        nvim.input("ggAX<Esc>")
        settle(nvim)
        first = nvim.exec_lua("return require('crowdcode').session")
        pid = nvim.exec_lua("return vim.fn.jobpid(require('crowdcode.host').channel)")
        wait_for(lambda: any(e.kind == "edit" for e in events(only_session())), what="the edit to be journaled")
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: nvim.exec_lua("return require('crowdcode').session") not in (None, first), what="restart")
        wait_recording(nvim)
        nvim.input("jAY<Esc>:w<CR>")
        settle(nvim)
        second = nvim.exec_lua("return require('crowdcode').session")
    # The save is decided once the scan is done, or at the latest when the editor quits.
    wait_for(lambda: session(second).end is not None, what="the second session to end")
    assert path.read_bytes() == b"alphaX\nbetaY\n"
    recorded = events(session(second))
    (opened,) = [e.payload for e in recorded if e.kind == "file_open"]
    assert opened.content.sha256 == hashlib.sha256(b"alpha\nbeta\n").hexdigest()
    assert [e for e in recorded if e.kind == "file_change"] == []
    (saved,) = [e.payload for e in recorded if isinstance(e.payload, FileSave)]
    assert saved.content.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    # The buffer as the journal rebuilds it (the quit may stop the scan before its snapshot).
    text = opened.text
    for event in recorded:
        if event.kind == "edit" and event.sequence <= saved.last_edit_sequence:
            text = apply_change(text, event.payload.diff)
    assert text.encode() == path.read_bytes()


def session(session_id: str):
    from crowdcode_sdk.store import Store

    return wait_for(lambda: next((s for s in Store().sessions() if s.id == session_id), None), what=session_id)
