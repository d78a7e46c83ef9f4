"""``crowdcode lsp`` driven by pygls's own language client, over stdio."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lsprotocol import types

from crowdcode_sdk.config import set_value
from crowdcode_sdk.locations import Locations
from crowdcode_sdk.schema import EditReason, Source
from crowdcode_sdk.store import Store

from .lsp_harness import actions, change, events, replay, run, sessions, shim, uri

TEXT = "first line\nsécond 🎉 line\nthird\n"


def _open(client, path: Path, text: str, version: int = 1) -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri(path), "plaintext", version, text))
    )


def _change(client, path: Path, version: int, *changes) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(version=version, uri=uri(path)), list(changes)
        )
    )


@pytest.mark.parametrize(
    ("encoding", "emoji_end"),
    [("utf-16", 9), ("utf-8", 12), ("utf-32", 8)],
)
def test_edits_in_each_encoding_replay_to_the_final_text(home, workspace, encoding, emoji_end):
    path = workspace / "notes.txt"
    path.write_text(TEXT)

    async def scenario():
        async with shim(home, workspace, encodings=[encoding]) as client:
            assert client.result.capabilities.position_encoding == encoding
            assert client.result.capabilities.text_document_sync.change == types.TextDocumentSyncKind.Incremental
            _open(client, path, TEXT)
            # Replace the emoji (line 1: "sécond " is 7 code points, 8 UTF-8 bytes) with "✓ ok".
            start = {"utf-16": 7, "utf-8": 8, "utf-32": 7}[encoding]
            _change(client, path, 2, change((1, start), (1, emoji_end), "✓ ok"))
            _change(client, path, 3, change((0, 0), (0, 0), "😀 "), change((2, 0), (2, 5), "3rd"))
            _change(client, path, 4, change((3, 0), (3, 0), "tail ✨"))
            client.text_document_will_save(
                types.WillSaveTextDocumentParams(
                    types.TextDocumentIdentifier(uri(path)), types.TextDocumentSaveReason.Manual
                )
            )
            await client.roundtrip()  # the server has the changes before the file changes on disk
            path.write_text("😀 first line\nsécond ✓ ok line\n3rd\ntail ✨")  # what the editor saves
            client.text_document_did_save(types.DidSaveTextDocumentParams(types.TextDocumentIdentifier(uri(path))))
            client.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri(path))))
            await client.roundtrip()
            assert client.statuses and client.statuses[0]["recording"] is True

    run(scenario())
    evs = events(home)
    final = "😀 first line\nsécond ✓ ok line\n3rd\ntail ✨"
    assert replay(evs, "notes.txt", TEXT) == final
    kinds = [e.kind for e in evs]
    assert kinds[0] == "session_start" and kinds[-1] == "session_end"
    file_actions = ["file_open", "file_save", "file_close"]
    assert [k for k in kinds if k in file_actions] == file_actions
    assert all(edit.source is Source.USER for edit in actions(evs, "edit"))
    metadata = evs[0].payload.metadata
    assert metadata.adapter == "lsp" and metadata.editor.name == "pytest"
    assert metadata.workspace.name == "project"


def test_custom_notifications_record_what_lsp_lacks(home, workspace):
    path = workspace / "app.py"
    text = "def f():\n    return 'é🎉'\n"
    other = workspace / "other.py"
    file, other_uri = uri(path), uri(other)

    async def scenario():
        async with shim(home, workspace, options={"host": "cursor"}) as client:
            _open(client, path, text)
            _open(client, other, "x = 1\n")
            client.notify("crowdcode/activeEditor", {"uri": file})
            client.notify("crowdcode/visibleRanges", {"uri": file, "ranges": [{"start": _p(0, 0), "end": _p(1, 16)}]})
            # Select "é🎉" backwards (anchor after it): UTF-16 12..15 on line 1.
            client.notify(
                "crowdcode/selection",
                {"uri": file, "selections": [{"anchor": _p(1, 15), "active": _p(1, 12)}]},
            )
            client.notify("crowdcode/editReason", {"uri": file, "version": 2, "reason": "paste"})
            _change(client, path, 2, change((0, 0), (0, 0), "# pasted\n"))
            client.notify("crowdcode/editReason", {"uri": file, "version": 3, "reason": "undo"})
            _change(client, path, 3, change((0, 0), (1, 0), ""))
            client.notify(
                "crowdcode/editReason",
                {"uri": file, "version": 4, "source": "external", "detail": "not in a visible editor"},
            )
            _change(client, path, 4, change((2, 0), (2, 0), "# bot\n"))
            client.notify("crowdcode/activeEditor", {"uri": other_uri})
            client.notify("crowdcode/focus", {"focused": False})
            client.notify("crowdcode/terminalFocus", {"terminalId": "terminal-1", "name": "bash"})
            client.notify(
                "crowdcode/terminalCommand",
                {"terminalId": "terminal-1", "name": "bash", "command": "ls -la", "cwd": str(workspace)},
            )
            client.notify(
                "crowdcode/terminalOutput", {"terminalId": "terminal-1", "data": "\x1b[1mtotal 8\x1b[0m\r\nfile\r\n"}
            )
            client.notify("crowdcode/terminalCommandEnd", {"terminalId": "terminal-1", "exitCode": 0})
            await client.roundtrip()

    run(scenario())
    evs = events(home)
    assert evs[0].payload.metadata.editor.host == "cursor"
    (selection,) = actions(evs, "selection")
    assert (selection.selection_start.line, selection.selection_start.character) == (1, 12)
    assert (selection.selection_end.line, selection.selection_end.character) == (1, 15)
    assert selection.selected_text == "é🎉"
    assert selection.cursor_position.character == 12
    edits = actions(evs, "edit")
    assert [(e.reason, e.source) for e in edits] == [
        (EditReason.PASTE, Source.USER),
        (EditReason.UNDO, Source.USER),
        (None, Source.EXTERNAL),
    ]
    assert edits[2].evidence.detail == "not in a visible editor"
    assert replay(evs, "app.py", text) == text + "# bot\n"
    switches = actions(evs, "tab_switch")
    assert [(s.file, s.previous_file) for s in switches] == [("app.py", None), ("other.py", "app.py")]
    assert actions(evs, "focus_change")[0].focused is False
    (command,) = actions(evs, "terminal_command")
    assert (command.terminal_id, command.command, command.cwd) == ("terminal-1", "ls -la", ".")
    (end,) = actions(evs, "terminal_command_end")
    assert end.exit_code == 0 and end.command == "ls -la" and end.duration_ms >= 0
    observations = [e.payload for e in evs if e.type == "observation"]
    # The tab switch's view (line 1 while no visible range is known) may be replaced by the range
    # that follows it before the sampler records it: frames are skipped, the last state is not.
    seen = [(o.viewport.file, o.viewport.start_line, o.viewport.end_line) for o in observations if o.viewport]
    assert seen[0] in {("app.py", 1, 1), ("app.py", 1, 2)}, seen
    viewport = next(o.viewport for o in observations if o.viewport and o.viewport.end_line == 2)
    assert (viewport.file, viewport.start_line) == ("app.py", 1)
    assert viewport.content == text.rstrip("\n")
    terminal = observations[-1].active_terminal
    assert terminal.viewport[-3:] == ["total 8", "file", ""]
    (cast_file,) = list((home / "data").glob("sessions/*/terminals/terminal-1.cast"))
    lines = cast_file.read_text().splitlines()
    assert '"version":2' in lines[0] and "total 8" in lines[1]


def test_status_panic_consent_and_recording_switch(home, workspace):
    path = workspace / "a.txt"

    async def scenario():
        async with shim(home, workspace) as client:
            _open(client, path, "abc\n")
            _change(client, path, 2, change((0, 3), (0, 3), "d"))
            answer = await client.request("crowdcode/panic", {})
            assert answer["presses"] == 1 and answer["reachSeconds"] == 10 and answer["removed"] >= 1
            client.notify("crowdcode/consent", {"status": "declined"})
            client.notify("crowdcode/setRecording", {"recording": False})
            _change(client, path, 3, change((0, 4), (0, 4), "e"))  # not recorded: stopped
            status = await client.request("crowdcode/getStatus", {})
            assert status["recording"] is False and status["consent"] == "declined"
            client.notify("crowdcode/setRecording", {"recording": True})
            _change(client, path, 4, change((0, 5), (0, 5), "f"))
            await client.roundtrip()
            return client.statuses

    statuses = run(scenario())
    assert [s["recording"] for s in statuses][:1] == [True]
    assert any(s["consent"] == "declined" for s in statuses)
    assert any(s["recording"] is False for s in statuses)
    first, second = sessions(home)
    assert first.end_reason == "stopped by the user"
    store_events = Store(Locations.default())
    first_events = list(store_events.events(first))
    assert actions(first_events, "edit") == []  # the panic removed the edit
    assert len(actions(first_events, "panic")) == 1
    second_events = list(store_events.events(second))
    # A new session starts from the editor's current text: the document is opened again.
    assert [e.kind for e in second_events][1] == "file_open"
    assert replay(second_events, "a.txt", "abcde\n") == "abcdef\n"
    assert "declined" in (home / "config.toml").read_text()


async def wait_for(condition, timeout: float = 15) -> None:
    """Poll the live session's journal (flushed every 500 ms) until ``condition()`` holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.2)


def _p(line: int, character: int) -> dict[str, int]:
    return {"line": line, "character": character}


def test_format_on_save_whole_text_changes_disk_changes_and_untitled_documents(home, workspace):
    path = workspace / "m.py"
    other = workspace / "other.py"
    path.write_text("x=1\n")
    registrations = []

    async def scenario():
        async with shim(home, workspace, watch_files=True) as client:
            _open(client, path, "x=1\n")
            client.text_document_did_open(
                types.DidOpenTextDocumentParams(types.TextDocumentItem("untitled:Untitled-1", "plaintext", 1, ""))
            )
            _change(client, path, 2, types.TextDocumentContentChangeWholeDocument(text="x=12\n"))
            client.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    types.VersionedTextDocumentIdentifier(version=2, uri="untitled:Untitled-1"),
                    [change((0, 0), (0, 0), "scratch")],
                )
            )
            ident = types.TextDocumentIdentifier(uri(path))
            client.text_document_will_save(types.WillSaveTextDocumentParams(ident, types.TextDocumentSaveReason.Manual))
            _change(client, path, 3, change((0, 1), (0, 1), " "), change((0, 3), (0, 3), " "))  # the formatter
            await client.roundtrip()
            path.write_text("x = 12\n")
            client.text_document_did_save(types.DidSaveTextDocumentParams(ident))
            _change(client, path, 4, change((1, 0), (1, 0), "y = 2\n"))
            await client.roundtrip()
            registrations.extend(client.registrations)
            other.write_text("z = 3\n")
            path.write_text("x = 12\n# agent\n")
            await wait_for(lambda: len(actions(events(home), "file_change")) >= 2)  # the engine's watcher
            client.workspace_did_change_workspace_folders(
                types.DidChangeWorkspaceFoldersParams(
                    types.WorkspaceFoldersChangeEvent(
                        added=[types.WorkspaceFolder(uri(workspace.parent), "parent")], removed=[]
                    )
                )
            )
            await client.roundtrip()

    run(scenario())
    assert registrations == []  # the attribution engine watches the disk itself
    evs = events(home)
    edits = actions(evs, "edit")
    assert all(e.file == "m.py" for e in edits)  # the untitled document is not recorded
    assert [e.reason for e in edits] == [None, EditReason.FORMAT, EditReason.FORMAT, None]
    assert (edits[0].diff.range_offset, edits[0].diff.range_length, edits[0].diff.text) == (3, 0, "2")
    assert replay(evs, "m.py", "x=1\n") == "x = 12\ny = 2\n"
    file_changes = actions(evs, "file_change")
    # Our own save explains the first disk change: only the other program's changes are recorded.
    assert {c.file for c in file_changes} == {"other.py", "m.py"}
    agent_change = next(c for c in file_changes if c.file == "m.py")
    assert agent_change.change_type.value == "change" and "+# agent" in agent_change.diff


def test_recording_switched_off_in_the_configuration_records_nothing(home, workspace):
    set_value(Locations.default(), "recording.enabled", "false")
    path = workspace / "a.txt"

    async def scenario():
        async with shim(home, workspace) as client:
            _open(client, path, "x\n")
            _change(client, path, 2, change((0, 0), (0, 0), "y"))
            status = await client.request("crowdcode/getStatus", {})
            assert status["recording"] is False and "sessionId" not in status
            assert any("recording is off" in line for line in client.logs)
            return client.statuses

    statuses = run(scenario())
    assert statuses[0]["recording"] is False
    assert sessions(home) == []


def test_an_opted_out_workspace_is_not_recorded_and_the_status_says_why(home, workspace):
    (workspace / ".crowdcode-off").touch()

    async def scenario():
        async with shim(home, workspace) as client:
            _open(client, workspace / "a.txt", "x\n")
            client.notify("crowdcode/setRecording", {"recording": True})  # still refused
            return await client.request("crowdcode/getStatus", {})

    status = run(scenario())
    assert status["recording"] is False and "opted out" in status["reason"]
    assert status["consent"] == "pending" and "Upload your recordings?" in status["consentText"]
    assert sessions(home) == []


def _vscode_range(start: tuple[int, int], end: tuple[int, int]) -> list[dict[str, int]]:
    """A ``vscode.Range`` as VS Code's JSON serialisation writes it (``Range.toJSON``)."""
    return [_p(*start), _p(*end)]


def _vscode_selection(anchor: tuple[int, int], active: tuple[int, int]) -> dict[str, object]:
    """A ``vscode.Selection`` as serialised (``Selection.toJSON``: start, end, active, anchor)."""
    start, end = sorted((anchor, active))
    return {"start": _p(*start), "end": _p(*end), "active": _p(*active), "anchor": _p(*anchor)}


def test_what_vscode_really_sends_multi_cursor_transient_nulls_and_batches_of_others_edits(home, workspace):
    lines = [f"line {n}" for n in range(300)]
    text = "\n".join(lines) + "\n"
    big, small, third = workspace / "big.txt", workspace / "small.txt", workspace / "third.txt"
    big.write_text(text)
    small.write_text("a\nb\n")
    third.write_text("x\n")

    async def scenario():
        async with shim(home, workspace) as client:
            for path in (big, small, third):
                _open(client, path, path.read_text())
            focus = lambda path: client.notify("crowdcode/activeEditor", {"uri": uri(path) if path else None})  # noqa: E731
            focus(big)
            # PageDown: VS Code sends its visible ranges as [start, end] arrays; folded line 60-69
            # makes two ranges.
            client.notify("crowdcode/visibleRanges", {"uri": uri(big), "ranges": [_vscode_range((50, 0), (59, 7))]})
            # The cursor follows to line 51: a viewport still pending when an action is recorded
            # is recorded before it (two ranges within one sampling interval would be one).
            client.notify("crowdcode/selection", {"uri": uri(big), "selections": [_vscode_selection((50, 0), (50, 0))]})
            await client.roundtrip()
            client.notify(
                "crowdcode/visibleRanges",
                {"uri": uri(big), "ranges": [_vscode_range((50, 0), (60, 0)), [[70, 0], [84, 7]]]},
            )
            # Three cursors, the primary one selecting "line" on line 52.
            client.notify(
                "crowdcode/selection",
                {
                    "uri": uri(big),
                    "selections": [
                        _vscode_selection((52, 0), (52, 4)),
                        _vscode_selection((53, 2), (53, 2)),
                        [[54, 1], [54, 0]],
                    ],
                },
            )
            # Tab switches with VS Code's transient null between editors, and a null while the
            # terminal has focus before coming back to the same file (no switch).
            focus(None)
            focus(small)
            focus(None)
            focus(small)
            focus(third)
            focus(None)
            focus(big)
            # Another extension's WorkspaceEdit: two files, no visible editor, one batch; the
            # person types; then another batch.
            for path, version in ((small, 2), (third, 2)):
                client.notify("crowdcode/editReason", {"uri": uri(path), "version": version, "source": "external"})
                _change(client, path, version, change((0, 0), (0, 0), "agent "))
            _change(client, big, 2, change((0, 0), (0, 0), "k"))
            await client.roundtrip()
            client.notify("crowdcode/editReason", {"uri": uri(third), "version": 3, "source": "unknown"})
            _change(client, third, 3, change((0, 0), (0, 0), "again "))
            # Bad shapes: each logged with the field's path, nothing else lost.
            client.notify("crowdcode/visibleRanges", {"uri": uri(big), "ranges": [[[1, 0], "end"]]})
            client.notify(
                "crowdcode/visibleRanges", {"uri": uri(big), "ranges": [{"start": _p(1, 0), "end": {"line": "x"}}]}
            )
            client.notify(
                "crowdcode/selection", {"uri": uri(big), "selections": [{"anchor": [-1, 0], "active": [0, 0]}]}
            )
            await client.roundtrip()
            assert any(
                "ranges[0][1]: expected a position ({line, character} or [line, character]), got str" in line
                for line in client.logs
            )
            assert any("ranges[0].end.line: expected int, got str 'x'" in line for line in client.logs)
            assert any("selections[0].anchor[0]: must be >= 0, got -1" in line for line in client.logs)

    run(scenario())
    evs = events(home)
    viewports = [e.payload.viewport for e in evs if e.type == "observation" and e.payload.viewport]
    big_views = [(v.start_line, v.end_line) for v in viewports if v.file == "big.txt"]
    assert (51, 60) in big_views and (51, 85) in big_views
    (view,) = [v for v in viewports if (v.start_line, v.end_line) == (51, 85)][:1]
    assert view.content == "\n".join(lines[50:85])
    follow, selection = actions(evs, "selection")
    assert follow.cursor_position.line == 50 and not follow.selected_text
    assert selection.selected_text == "line" and selection.cursor_position.character == 4
    assert [
        ((s.anchor.line, s.anchor.character), (s.active.line, s.active.character)) for s in selection.selections
    ] == [
        ((52, 0), (52, 4)),
        ((53, 2), (53, 2)),
        ((54, 1), (54, 0)),
    ]
    switches = [(s.file, s.previous_file) for s in actions(evs, "tab_switch")]
    assert switches == [
        ("big.txt", None),
        ("small.txt", "big.txt"),
        ("third.txt", "small.txt"),
        ("big.txt", "third.txt"),
    ]
    kinds = [e.kind for e in evs]
    batches = [
        e.payload.source if e.kind == "edit" else "snapshot"
        for e in evs
        if e.kind == "edit" or e.type == "workspace_snapshot"
    ]
    # The session's first snapshot, then one before each batch of others' edits.
    assert batches == [
        "snapshot",
        "snapshot",
        Source.EXTERNAL,
        Source.EXTERNAL,
        Source.USER,
        "snapshot",
        Source.UNKNOWN,
    ]
    assert kinds[-1] == "session_end"


def test_a_newly_focused_editor_is_observed_with_the_lines_it_shows_not_the_cursors_line(home, workspace):
    """VS Code reports the focused editor at once and the lines it shows up to a throttle interval
    later (the extension's order in a real code-server: activeEditor, selection, visibleRanges),
    the first editor of the session too. The observation after each switch is of the lines shown,
    never the cursor's line alone."""
    small, big = workspace / "small.txt", workspace / "big.txt"
    small.write_text("a\nb\n")
    big.write_text("".join(f"line {n}\n" for n in range(100)))

    async def scenario():
        async with shim(home, workspace, options={"visibleRanges": True}) as client:
            for path, last in ((big, 39), (small, 2), (big, 39)):
                _open(client, path, path.read_text())
                client.notify("crowdcode/activeEditor", {"uri": uri(path)})
                await client.roundtrip()
                client.notify(
                    "crowdcode/selection", {"uri": uri(path), "selections": [_vscode_selection((0, 0), (0, 0))]}
                )
                await client.roundtrip()
                client.notify(
                    "crowdcode/visibleRanges", {"uri": uri(path), "ranges": [_vscode_range((0, 0), (last, 0))]}
                )
                await client.roundtrip()
                client.text_document_did_close(
                    types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri(path)))
                )

    run(scenario())
    views = [e.payload.viewport for e in events(home) if e.type == "observation" and e.payload.viewport]
    assert {(v.file, v.start_line, v.end_line) for v in views} == {("big.txt", 1, 40), ("small.txt", 1, 3)}, views
