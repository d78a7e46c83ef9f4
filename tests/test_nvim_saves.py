"""A person's own save in Neovim is recorded as a ``file_save``, never as another program's
change, however Neovim writes it: an emptied buffer, a file without a final line break (kept with
'nofixeol', or added by the default 'fixeol'), CRLF, and a file over the 1 MiB text limit."""

from __future__ import annotations

from pathlib import Path

import pytest

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
