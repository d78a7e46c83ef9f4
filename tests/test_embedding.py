"""docs/embedding.md's example runs as written and records what it claims."""

from __future__ import annotations

import re
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
    workspace = tmp_path / "ws"
    workspace.mkdir()
    original = "print('hello')\n"
    (workspace / "hello.py").write_text(original)
    namespace: dict = {}
    exec(compile(_example(), "docs/embedding.md", "exec"), namespace)
    session_id = namespace["record_demo"](workspace)

    events = list(Store().events(Store().find(session_id)))
    assert [e.kind for e in events] == ["session_start", "file_open", "edit", "selection", None, "session_end"]
    edit, selection, observation = (e.payload for e in events[2:5])
    assert apply_changes(original, [edit.diff]) == "# 😀 hi\n" + original
    assert (edit.diff.range_offset, edit.diff.range_length) == (0, 0)
    assert selection.selected_text == "# 😀 hi" and selection.selection_end.character == 7  # 😀 counts 2 UTF-16 units
    assert observation.viewport.file == "hello.py" and observation.viewport.end_line == 3
    assert "edit" in run_cli("show", session_id).stdout
