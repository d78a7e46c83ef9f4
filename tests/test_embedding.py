"""docs/embedding.md's example runs as written and records what it claims."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from crowdcode_sdk import Store, apply_changes

from .conftest import ROOT, run_cli


def _example() -> str:
    text = (ROOT / "docs" / "embedding.md").read_text()
    (block,) = re.findall(r"```python\n(.*?)```", text, re.S)
    return block


def test_the_example_is_under_50_lines():
    assert len(_example().strip().splitlines()) < 50


def test_the_example_records_a_replayable_session(home, tmp_path: Path):
    """Saved verbatim as example.py and run as the doc says, in a folder of its own."""
    (tmp_path / "example.py").write_text(_example())
    result = subprocess.run(
        [sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    session_id = result.stdout.strip()
    original = (tmp_path / "crowdcode-demo" / "hello.py").read_text()
    assert original == "print('hello')\n"  # the editor's buffer changed, not the file on disk

    events = list(Store().events(Store().find(session_id)))
    assert [e.kind for e in events] == ["session_start", "file_open", "edit", "selection", None, "session_end"]
    edit, selection, observation = (e.payload for e in events[2:5])
    assert apply_changes(original, [edit.diff]) == "# 😀 hi\n" + original
    assert (edit.diff.range_offset, edit.diff.range_length) == (0, 0)
    assert selection.selected_text == "# 😀 hi" and selection.selection_end.character == 7  # 😀 counts 2 UTF-16 units
    assert observation.viewport.file == "hello.py" and observation.viewport.end_line == 3
    assert "edit" in run_cli("show", session_id).stdout
