"""End to end in a real VS Code: code-server 4.100.3 (VS Code 1.100.3) with the packaged .vsix,
driven by headless Chromium (plugins/vscode/e2e/drive.js).

Part of the suite: ``./scripts/test`` (and ``./scripts/e2e-vscode``, this test alone) first run
``./scripts/install-e2e-vscode``, which installs code-server and Chromium into the ignored cache
``.cache/e2e-vscode`` and packages the .vsix. Every fact is checked against what the page showed
(the gutter's line numbers, the status bar, tab labels) and the session must pass verify (the
autouse fixture in tests/conftest.py).
"""

from __future__ import annotations

import json
import subprocess
import time

from crowdcode_sdk.config import set_value
from crowdcode_sdk.locations import Locations
from crowdcode_sdk.serialize.sources import resolve
from crowdcode_sdk.store import Store

from ..conftest import only_session
from ..recordings import disk_files, sed_rebuild
from .code_server import PLUGIN, browser_env, code_server
from .lsp_harness import actions, replay

INITIAL = "first line\n"
LONG = "".join(f"line {n} of the long file\n" for n in range(1, 301))


def test_vscode_extension_records_a_session_that_replays_to_the_saved_file(home, tmp_path):
    workspace = tmp_path / "project"
    workspace.mkdir()
    notes = workspace / "notes.txt"
    notes.write_text(INITIAL)
    (workspace / "long.txt").write_text(LONG)
    git = ["git", "-C", str(workspace), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "notes.txt", "long.txt"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "main"], check=True)
    subprocess.run([*git, "checkout", "-q", "-b", "feature"], check=True)
    (workspace / "long.txt").write_text(LONG.replace("line 2 of", "line two of"))
    (workspace / "added.txt").write_text("from the branch\n")
    (workspace / "also.txt").write_text("also from the branch\n")
    subprocess.run([*git, "add", "long.txt", "added.txt", "also.txt"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "feature"], check=True)
    subprocess.run([*git, "checkout", "-q", "main"], check=True)
    set_value(Locations.default(), "consent.status", "declined")  # no consent modal in the way
    # Leaving the block stops code-server by SIGTERM to its process group (Ctrl+C in its terminal).
    with code_server(tmp_path, workspace) as url:
        out = tmp_path / "drive.json"
        drive = subprocess.run(
            ["node", "drive.js", url, notes.name, "long.txt", str(tmp_path / "chromium"), str(out)],
            cwd=PLUGIN / "e2e",
            env=browser_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=300,
        )
        seen = json.loads(out.read_text())
        assert "error" not in seen, (seen, drive.stderr[-3000:])
        time.sleep(1.5)  # the journal is flushed every 500 ms

    assert seen["statusLabels"][0].startswith("crowdcode: recording")
    assert "removed" in seen["notifications"][0]
    store = Store(Locations.default())
    # One session, ended cleanly by the SIGTERM to code-server's process group (the recorder may
    # write its end a moment after code-server has gone), not left "crashed" with no end.
    info = only_session(ended=True)
    assert info.metadata["adapter"] == "lsp" and info.end_reason == "editor closed", info
    events = list(store.events(info))
    assert events[-1].kind == "session_end", events[-1]
    metadata = next(e.payload.metadata for e in events if e.kind == "session_start")
    assert metadata.editor.host == "code-server"
    saved = notes.read_text()  # as saved, then changed by sed -i and reloaded by VS Code
    assert saved == "> first row\n> hello é🎉 world\n2nd row!"
    assert replay(events, "notes.txt", INITIAL) == saved
    selections = actions(events, "selection")
    assert any(s.selected_text == "second line" for s in selections)
    # Replace All: one change of two ranges. The find widget selects the current match, so one range
    # is at the cursor: the person's edit, not another program's batch (no snapshot before it).
    replaced = [i for i, e in enumerate(events) if e.kind == "edit" and e.payload.diff.text == "row"]
    assert len(replaced) == 2 and replaced[1] == replaced[0] + 1
    assert all(events[i].payload.source.value == "user" for i in replaced)
    assert events[replaced[0] - 1].type != "workspace_snapshot"
    assert actions(events, "panic")
    assert "file_save" in [e.kind for e in events]
    reasons = {e.reason.value for e in actions(events, "edit") if e.reason is not None}
    assert {"undo", "redo"} <= reasons
    assert any(s.selections is not None and len(s.selections) == 2 for s in selections)
    command = actions(events, "terminal_command")[0]
    assert command.command == "sleep 1; echo crowdcode-e2e; (exit 3)" and command.terminal_id == "terminal-1"
    end = actions(events, "terminal_command_end")[0]
    assert end.exit_code == 3 and end.terminal_id == "terminal-1"
    cast = next((Locations.default().data_dir / "sessions").glob("*/terminals/terminal-1.cast"))
    assert "crowdcode-e2e" in cast.read_text()

    # What the page showed, fact by fact.
    viewports = [e.payload.viewport for e in events if e.type == "observation" and e.payload.viewport]
    long_views = {(v.start_line, v.end_line) for v in viewports if v.file == "long.txt"}
    # Top, three PageDowns, the wheel: each view the gutter showed was recorded, give or take the
    # partly visible first and last lines (the gutter draws them; VS Code may not count them).
    for view in seen["views"]:
        assert any(
            view["first"] <= start <= view["first"] + 1 and view["last"] - 1 <= end <= view["last"]
            for start, end in long_views
        ), (view, sorted(long_views))
    for v in viewports:
        if v.file == "long.txt":
            assert v.content == "\n".join(LONG.splitlines()[v.start_line - 1 : v.end_line])
    assert seen["tabs"] == ["notes.txt", "long.txt", "notes.txt", "long.txt"]
    switches = [(s.file, s.previous_file) for s in actions(events, "tab_switch")]
    assert switches[-3:] == [("long.txt", "notes.txt"), ("notes.txt", "long.txt"), ("long.txt", "notes.txt")]
    assert {f.terminal_name for f in actions(events, "terminal_focus")} == {"bash"}
    ends = {e.command: e.exit_code for e in actions(events, "terminal_command_end")}
    assert ends["sleep 1; seq 100"] == 0
    rows = [
        row
        for e in events
        if e.type == "observation" and e.payload.active_terminal
        for row in e.payload.active_terminal.viewport
    ]
    assert "100" in rows and not any("\x1b" in row for row in rows)
    # sed -i changed the open, saved file: VS Code reloaded it; no edit of the person's says "2nd".
    assert "2nd row" in notes.read_text()
    (reload,) = [
        e
        for e in actions(events, "edit")
        if e.file == "notes.txt" and e.reason is not None and e.reason.value == "reload"
    ]
    assert reload.source.value != "user" and reload.diff.text == "2"
    assert not any("2" in e.diff.text for e in actions(events, "edit") if e.reason is None)
    # git checkout changed the open long file (VS Code reloaded it) and added two files.
    assert (workspace / "long.txt").read_text() == LONG.replace("line 2 of", "line two of")
    assert replay(events, "long.txt", LONG) == (workspace / "long.txt").read_text()
    assert all(e.source.value != "user" for e in actions(events, "edit") if e.file == "long.txt")
    assert {"added.txt", "also.txt"} <= {c.file for c in actions(events, "file_change")}
    # The training text: its GNU sed commands rebuild each file at each save and change on disk,
    # and leave the files as VS Code and the terminal did; but notes.txt, whose text the panic
    # made unknown (it removed recent edits): nothing is guessed for it.
    [source] = resolve([info.id])
    rebuilt, _ = sed_rebuild(source, tmp_path / "sed", removed=frozenset({"notes.txt"}))
    on_disk = {name: data for name, data in disk_files(workspace).items() if not name.startswith(".git/")}
    assert {name: rebuilt.get(name) for name in on_disk if name != "notes.txt"} == {
        name: data for name, data in on_disk.items() if name != "notes.txt"
    }
