"""A person's ``:w`` is their save however late the editor's messages reach the recorder.

On a busy machine the plugin's edits and save hint reach the recorder long after Neovim wrote the
file (the decision runs once the write is on disk). Here the channel from Neovim to its recorder
is held back by a fixed delay, far longer than the recorder ever waits for a late message
(``tests/slow_channel.py``), so the test repeats what load does at random. Every save must be a
``file_save`` and no ``file_change``; and another program's change to the open file must still be
that program's, not the user's."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pynvim
import pytest

from crowdcode_sdk.attribution.engine import HINT_WAIT_MS
from crowdcode_sdk.attribution.git import FORWARD_MS
from crowdcode_sdk.schema import FileChange, FileSave
from crowdcode_sdk.store import SessionInfo

from .conftest import crowdcode_executable, only_session
from .nvim_driver import editor, events, finished_session, settle, wait_for, wait_recording
from .test_nvim import disk, replayed_disk

pytestmark = pytest.mark.timeout(180)

DELAY_MS = 3 * (FORWARD_MS + HINT_WAIT_MS)
"""The editor's messages arrive this late: well past the recorder's one wait for late messages."""

SLOW = [sys.executable, str(Path(__file__).with_name("slow_channel.py")), str(DELAY_MS)]


def decisions_of(info: SessionInfo, file: str) -> list[str]:
    """The ``file_save``s and ``file_change``s of ``file`` in ``info``, in order."""
    return [e.kind for e in events(info) if isinstance(e.payload, (FileSave, FileChange)) and e.payload.file == file]


def decisions(file: str) -> list[str]:
    return decisions_of(only_session(), file)


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    """A file in a fresh workspace."""
    (tmp_path / "ws").mkdir()
    path = tmp_path / "ws" / "notes.txt"
    path.write_text("first\n")
    return path


@contextmanager
def slow_editor(path: Path) -> Iterator[pynvim.Nvim]:
    """Neovim recording ``path``'s workspace, its messages to the recorder held back."""
    with editor(path.parent, cmd=[*SLOW, crowdcode_executable(), "nvim"], files=[str(path)]) as nvim:
        wait_recording(nvim)
        yield nvim


@pytest.mark.parametrize(
    "gap_s",
    [0.0, (DELAY_MS - FORWARD_MS - HINT_WAIT_MS / 2) / 1000],
    ids=["typed-then-saved", "edits-arrive-after-the-write"],
)
def test_saves_are_the_users_when_the_editors_messages_arrive_late(home: Path, notes: Path, gap_s: float) -> None:
    """``gap_s`` between typing and ``:w``: at 0 nothing of the editor's has arrived when the write
    is decided; at the other the edits arrive after the write, the save hint much later."""
    ws, path = notes.parent, notes
    with slow_editor(notes) as nvim:
        for n in range(3):
            before = len(decisions("notes.txt"))
            nvim.input(f"GoLine {n}<Esc>")
            settle(nvim)
            time.sleep(gap_s)
            nvim.input(":w<CR>")
            settle(nvim)
            wait_for(lambda b=before: len(decisions("notes.txt")) > b, timeout=30, what="the save's decision")
        assert path.read_text() == "first\nLine 0\nLine 1\nLine 2\n"
    info = finished_session(timeout=30)
    assert decisions_of(info, "notes.txt") == ["file_save"] * 3
    assert replayed_disk(info) == disk(ws)


def test_another_programs_change_is_still_its_own_when_the_editor_is_slow(home: Path, notes: Path) -> None:
    """A file open (unmodified) in Neovim rewritten by another program: no save hint will come,
    and the recorder must learn that without a save being mistaken for it."""
    path = notes
    with slow_editor(notes) as nvim:
        settle(nvim)
        path.write_text("first\nfrom elsewhere\n")
        wait_for(lambda: decisions("notes.txt"), timeout=30, what="the change's decision")
    info = finished_session(timeout=30)
    changes = [e.payload for e in events(info) if isinstance(e.payload, FileChange) and e.payload.file == "notes.txt"]
    assert [(c.change_type, c.diff is not None) for c in changes] == [("change", True)]
    assert decisions_of(info, "notes.txt") == ["file_change"]


@pytest.mark.parametrize(
    "quit_after_s", [0.0, (FORWARD_MS + HINT_WAIT_MS) / 1000], ids=["before-the-barrier", "while-it-waits"]
)
def test_a_save_right_before_quitting_is_the_users_when_the_editor_is_slow(
    home: Path, notes: Path, quit_after_s: float
) -> None:
    """``:w`` then quit, at once (the recorder's barrier request finds Neovim gone) or while the
    write waits for the barrier; the save hint and the buffer's close arrive with the end of the
    session. The final decision still has the buffer: the save is the user's."""
    ws, path = notes.parent, notes
    with slow_editor(notes) as nvim:
        nvim.input("GoLast<Esc>:w<CR>")
        settle(nvim)
        wait_for(lambda: path.read_text() == "first\nLast\n", what="Neovim's write")
        if quit_after_s:
            time.sleep(quit_after_s)
    info = finished_session(timeout=30)
    assert decisions_of(info, "notes.txt") == ["file_save"]
    assert replayed_disk(info) == disk(ws)


def test_a_save_after_saving_an_unmodified_buffer_is_the_users_when_the_editor_is_slow(home: Path, notes: Path) -> None:
    """``:w`` of the unmodified buffer, then typing and ``:w`` once that first save hint has reached
    the recorder but the new edits have not: the first write, which changed nothing on disk, waits
    for its late hint, so that the hint is not left over and taken for the second write's (which
    then came out as a ``file_save`` of the old text and another program's ``file_change``)."""
    ws, path = notes.parent, notes
    with slow_editor(notes) as nvim:
        nvim.input(":w<CR>")
        settle(nvim)
        time.sleep((DELAY_MS + FORWARD_MS + HINT_WAIT_MS) / 1000)  # its hint has arrived, late
        nvim.input("GoLine<Esc>:w<CR>")
        settle(nvim)
        wait_for(lambda: len(decisions("notes.txt")) >= 2, timeout=30, what="both saves' decisions")
        assert path.read_text() == "first\nLine\n"
    info = finished_session(timeout=30)
    assert decisions_of(info, "notes.txt") == ["file_save", "file_save"]
    assert replayed_disk(info) == disk(ws)
