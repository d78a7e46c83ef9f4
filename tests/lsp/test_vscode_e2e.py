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
import signal
import subprocess
import time

import pytest

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
SECTIONS = "".join(f"section {s}:\n" + "".join(f"    item {s}.{i}\n" for i in range(1, 6)) for s in range(1, 41))
"""40 indented sections of 6 lines (240 lines): VS Code folds plain text by its indentation."""
HIDDEN = "a file no editor shows\nwords that the agent rewrites\n"


def drive(script: str, url: str, *args: str, base) -> dict:
    """Run a driver script of plugins/vscode/e2e against code-server; what the page showed."""
    out = base / f"{script}.json"
    run = subprocess.run(
        ["node", f"{script}.js", url, *args, str(base / "chromium"), str(out)],
        cwd=PLUGIN / "e2e",
        env=browser_env(base),
        capture_output=True,
        text=True,
        timeout=300,
    )
    seen = json.loads(out.read_text())
    assert "error" not in seen, (seen, run.stderr[-3000:])
    return seen


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
    (workspace / "todo.txt").write_text(SECTIONS)
    (workspace / "hidden.txt").write_text(HIDDEN)
    set_value(Locations.default(), "consent.status", "declined")  # no consent modal in the way
    # Leaving the block stops code-server by SIGTERM to its process group (a service manager's stop).
    with code_server(tmp_path, workspace, agent=True) as url:
        seen = drive("drive", url, notes.name, "long.txt", "todo.txt", base=tmp_path)
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
    first_todo_edit = next(i for i, e in enumerate(events) if e.kind == "edit" and e.payload.file == "todo.txt")
    observed = [(i, e.payload.viewport) for i, e in enumerate(events) if e.type == "observation" and e.payload.viewport]
    texts = {"long.txt": LONG, "todo.txt": SECTIONS}
    # Top, three PageDowns, the wheel; a fold then PageDown; the split's end and PageUp: each view
    # the gutter showed was recorded for its file, give or take the partly visible first and last
    # lines (the gutter draws them; VS Code may not count them). Folded lines are inside the view.
    assert {view["file"] for view in seen["views"]} == {"long.txt", "todo.txt"}
    for view in seen["views"]:
        assert any(
            v.file == view["file"]
            and view["first"] <= v.start_line <= view["first"] + 1
            and view["last"] - 1 <= v.end_line <= view["last"]
            for _, v in observed
        ), (view, sorted((v.file, v.start_line, v.end_line) for _, v in observed))
    folded = [view for view in seen["views"] if view["rows"] < view["last"] - view["first"] + 1]
    assert folded and all(view["file"] == "todo.txt" for view in folded), seen["views"]
    for i, v in observed:
        if v.file == "long.txt" or (v.file == "todo.txt" and i < first_todo_edit):
            assert v.content == "\n".join(texts[v.file].split("\n")[v.start_line - 1 : v.end_line]), v
    # Quick Open, Ctrl+Tab, Quick Open in the split, a click into the other group, a closed tab, a
    # click on a tab: each switch and the file before it, as the tab labels showed them.
    tabs = seen["tabs"]
    assert tabs == [
        "notes.txt",
        "long.txt",
        "notes.txt",
        "long.txt",
        "todo.txt",
        "long.txt",
        "todo.txt",
        "long.txt",
        "todo.txt",
    ]
    switches = [(s.file, s.previous_file) for s in actions(events, "tab_switch")]
    assert switches[-(len(tabs) - 1) :] == list(zip(tabs[1:], tabs[:-1], strict=True))
    # The paste: the copied line, inserted at once at the end as the person's edit (in a browser
    # the extension may not read the clipboard, so VS Code's paste is told from typing by its size).
    assert seen["pasted"] == "section 1:"
    (paste,) = [e for e in actions(events, "edit") if e.file == "todo.txt" and e.diff.text == "section 1:"]
    assert paste.source.value == "user"
    # The stand-in agent's WorkspaceEdit: a workspace snapshot first, then its three changes (two
    # ranges of the visible todo.txt away from the cursor, and hidden.txt that no editor shows),
    # none credited to the person; Save All wrote what the recording replays to.
    agent = [i for i, e in enumerate(events) if e.kind == "edit" and e.payload.diff.text == "AGENT: "]
    hidden = [i for i, e in enumerate(events) if e.kind == "edit" and e.payload.file == "hidden.txt"]
    assert len(agent) == 2 and len(hidden) == 1
    batch = sorted([*agent, *hidden])
    snapshots = [i for i, e in enumerate(events) if e.type == "workspace_snapshot"]
    assert batch[0] - 1 in snapshots, [events[i].kind for i in range(batch[0] - 3, batch[0] + 1)]
    assert not any(batch[0] < i < batch[-1] for i in snapshots)  # one batch, one snapshot
    assert {events[i].payload.source.value for i in agent} == {"unknown"}
    assert events[hidden[0]].payload.source.value == "external"
    todo, hidden_text = (workspace / "todo.txt").read_text(), (workspace / "hidden.txt").read_text()
    lines = SECTIONS.splitlines(keepends=True)
    assert todo == "AGENT: " + "".join(lines[:3]) + "AGENT: " + "".join(lines[3:]) + "section 1:"
    assert hidden_text == "a file no editor shows\nrewritten by the agent that the agent rewrites\n"
    assert replay(events, "todo.txt", SECTIONS) == todo
    assert replay(events, "hidden.txt", HIDDEN) == hidden_text
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
    # ... and the change on disk is sed's, recorded once, from the command in VS Code's terminal
    # (notes.txt is a background tab then: the first group shows long.txt, the split todo.txt).
    (changed,) = [c for c in actions(events, "file_change") if c.file == "notes.txt"]
    assert changed.source.value == "external" and changed.evidence.command == "sed -i 's/second/2nd/' notes.txt"
    assert not any("2" in e.diff.text for e in actions(events, "edit") if e.reason is None)
    # git checkout changed the open long file (VS Code reloaded it) and added two files.
    assert (workspace / "long.txt").read_text() == LONG.replace("line 2 of", "line two of")
    assert replay(events, "long.txt", LONG) == (workspace / "long.txt").read_text()
    assert all(e.source.value != "user" for e in actions(events, "edit") if e.file == "long.txt")
    (checked_out,) = [c for c in actions(events, "file_change") if c.file == "long.txt"]
    assert checked_out.source.value == "git_checkout"
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


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGHUP])
def test_vscode_session_ends_cleanly_when_code_servers_process_group_is_signalled(home, tmp_path, stop):
    """Ctrl+C in code-server's terminal (SIGINT) and that terminal closed (SIGHUP) reach the whole
    process group, the recorder included: the session still ends with its session_end, and the
    typed, saved word replays to the file (SIGTERM is the long scenario's stop)."""
    workspace = tmp_path / "project"
    workspace.mkdir()
    notes = workspace / "notes.txt"
    notes.write_text(INITIAL)
    set_value(Locations.default(), "consent.status", "declined")
    with code_server(tmp_path, workspace, stop=stop) as url:
        seen = drive("record", url, notes.name, base=tmp_path)
    assert seen["statusLabels"][-1].startswith("crowdcode: recording")
    info = only_session(ended=True)
    # The signal reaches the recorder directly ("editor closed"), or code-server's extension host
    # stops the language client first, which sends shutdown: which comes first is a race, and
    # both are clean ends; a recorder killed by the signal would leave the session "crashed".
    assert info.end_reason in ("editor closed", "shutdown"), info
    events = list(Store(Locations.default()).events(info))
    assert events[-1].kind == "session_end", events[-1]
    assert notes.read_text() == INITIAL + "saved"
    assert replay(events, "notes.txt", INITIAL) == notes.read_text()
    assert "file_save" in [e.kind for e in events]
