"""Emacs (the real terminal UI in tmux) with eglot and with lsp-mode, each running ``crowdcode lsp``
as docs/lsp.md configures it: text with characters outside the Basic Multilingual Plane is typed,
then ``C-x C-s C-x C-c`` at once, as a person quits. Emacs exits, the one session ends, and its
edits replay to the bytes on disk with the save recorded as the user's."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from crowdcode_sdk.attribution.replay import workspace_at
from crowdcode_sdk.schema import Source
from crowdcode_sdk.store import Store

from ..conftest import ROOT, crowdcode_executable, only_session
from ..nvim_driver import wait_for
from ..tmux_pane import Pane
from .lsp_harness import replay

pytestmark = pytest.mark.timeout(120)

OPENING = "first 😀 line\n"
END_REASONS = {"eglot": "editor closed", "lsp-mode": "shutdown"}
"""Eglot quits by hanging up (SIGHUP to the server's process group); lsp-mode sends shutdown."""


@pytest.mark.parametrize("client", ["eglot", "lsp-mode"])
def test_fast_save_and_quit_replays_exactly(home: Path, workspace: Path, tmp_path: Path, client: str) -> None:
    if shutil.which("emacs") is None:
        pytest.fail("emacs is missing: run ./scripts/install")
    path = workspace / "notes.txt"
    path.write_text(OPENING)
    env = {
        "CROWDCODE_HOME": str(home),
        "CROWDCODE_BIN": crowdcode_executable(),
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        "HOME": str(tmp_path),  # Emacs's own files (lsp-mode's session file) stay in the test
    }
    init = ROOT / "tests" / "emacs" / f"{client}.el"
    emacs = Pane(["emacs", "-nw", "-q", "-l", str(init), "notes.txt"], workspace, env, "emacs")
    try:
        # The session starts from initialize, before the server answers it; the client sends the
        # file (and what is typed into it) once answered: wait for the file in the session.
        wait_for(
            lambda: any(e.kind == "file_open" for s in Store().sessions() for e in Store().events(s)),
            what="the file opened in the server's session",
        )
        emacs.wait_screen("first 😀 line")
        emacs.keys("M->")
        emacs.type("added 𝄞 after 😀 ok")
        emacs.keys("C-p", "C-e")
        emacs.type(" and 🎉 tail")
        emacs.wait_screen("🎉 tail")
        assert "Unknown notification" not in emacs.screen()
        emacs.keys("C-x", "C-s", "C-x", "C-c")
        assert emacs.exited(15, "Emacs") == 0
    finally:
        emacs.kill()
    on_disk = path.read_bytes()
    assert on_disk == "first 😀 line and 🎉 tail\nadded 𝄞 after 😀 ok\n".encode()  # text-mode adds the final newline
    info = only_session(ended=True)
    assert info.end_reason == END_REASONS[client]
    files, result = workspace_at(Store(), info)
    assert result.skipped == []
    assert files["notes.txt"].encode() == on_disk
    events = list(Store().events(info))
    assert replay(events, "notes.txt", OPENING).encode() == on_disk  # the edits alone, no disk change
    assert [e.kind for e in events if e.kind == "file_change"] == []
    saves = [e.payload for e in events if e.kind == "file_save"]
    assert len(saves) == 1 and saves[0].source is Source.USER
    assert all(e.payload.source is Source.USER for e in events if e.kind == "edit")
