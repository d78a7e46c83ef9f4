"""A client that sends its reload of a file another program changed as an ordinary ``didChange``
(VS Code's small-edit reload without the crowdcode extension's note, Helix, Zed …): the disk change
is that program's ``file_change`` and no user save, and the reload is a ``reload`` edit whether it
comes before or after the change was decided (before, it is held until the client's next message
shows that no ``didSave`` follows it: a debounced edit of the person's own save has one). Driven by
pygls's client over stdio, with ``sed`` run from a recorded shell."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterable
from hashlib import sha256
from pathlib import Path

from lsprotocol import types

from crowdcode_sdk.store import Store

from ..attribution_support import ShellFacts
from ..nvim_driver import wait_for
from .lsp_harness import actions, assert_changed_by, change, events, lsp_events, run, shim, uri

TEXT = "one\ntwo\nthree\n"


def edit(client, path: Path, version: int, *changes) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(version=version, uri=uri(path)), list(changes)
        )
    )


def written(workspace: Path, *names: str) -> dict[str, Path]:
    """``names`` in ``workspace``, each holding ``TEXT``."""
    files = {name: workspace / name for name in names}
    for path in files.values():
        path.write_text(TEXT)
    return files


def open_all(client, paths: Iterable[Path]) -> None:
    for path in paths:
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(types.TextDocumentItem(uri(path), "plaintext", 1, TEXT))
        )


def test_reloads_sent_as_small_edits_are_the_other_programs(home, workspace):
    files = written(workspace, "shown.txt", "background.txt", "dirty.txt", "late.txt")
    shell = ShellFacts(workspace)

    async def scenario():
        async with shim(home, workspace, client_name="Visual Studio Code") as client:
            open_all(client, files.values())
            edit(client, files["dirty.txt"], 2, change((0, 3), (0, 3), "X"))  # typed, never saved
            await client.roundtrip()
            shell.run(["sed", "-i", "s/two/TWO/", *map(str, files.values())], "sed -i s/two/TWO/ *.txt")
            # The editor reloads the clean documents as the smallest edits, before the recorder
            # decided the disk change (shown, background: two edits in one change) and after it
            # (late); the modified one is not reloaded.
            edit(client, files["shown.txt"], 2, change((1, 0), (1, 3), "TWO"))
            edit(client, files["background.txt"], 2, change((1, 0), (1, 1), "T"), change((1, 1), (1, 3), "WO"))
            await client.roundtrip()
            await asyncio.sleep(1.5)
            edit(client, files["late.txt"], 2, change((1, 0), (1, 3), "TWO"))
            await client.roundtrip()
            await asyncio.sleep(0.5)

    try:
        run(scenario())
    finally:
        shell.close()
    evs = lsp_events()
    assert_changed_by(evs, files, "sed -i s/two/TWO/ *.txt")
    edits = actions(evs, "edit")
    assert [(e.file, e.diff.text) for e in edits if e.source == "user"] == [("dirty.txt", "X")]
    reloads = [e for e in edits if e.reason == "reload"]
    assert sorted(e.file for e in reloads) == ["background.txt", "late.txt", "shown.txt"]
    assert {e.source for e in reloads} == {"unknown"}


def test_a_command_in_the_editors_terminal_is_the_source_of_its_change(home, workspace):
    """``sed -i`` typed into the editor's own terminal (VS Code's shell integration reports its start
    and end): the open file's change is ``sed``'s, with its command, and the reload is a reload."""
    path = workspace / "notes.txt"
    path.write_text(TEXT)
    command = f"sed -i s/two/2nd/ {path.name}"

    async def scenario():
        async with shim(home, workspace, client_name="Visual Studio Code") as client:
            client.text_document_did_open(
                types.DidOpenTextDocumentParams(types.TextDocumentItem(uri(path), "plaintext", 1, TEXT))
            )
            start = {"terminalId": "terminal-1", "name": "bash", "command": command, "cwd": str(workspace)}
            client.notify("crowdcode/terminalCommand", start)
            await client.roundtrip()
            await asyncio.to_thread(subprocess.run, ["sed", "-i", "s/two/2nd/", path.name], cwd=workspace, check=True)
            await asyncio.sleep(1.5)  # VS Code reloads when it sees the change; here after the recorder decided it
            client.notify("crowdcode/terminalCommandEnd", {"terminalId": "terminal-1", "exitCode": 0})
            client.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    types.VersionedTextDocumentIdentifier(version=2, uri=uri(path)), [change((1, 0), (1, 3), "2nd")]
                )
            )
            await client.roundtrip()
            await asyncio.sleep(1.5)

    run(scenario())
    evs = events(home)
    (changed,) = [e.payload for e in evs if e.kind == "file_change"]
    assert (changed.file, changed.source, changed.evidence.command) == ("notes.txt", "external", command)
    assert changed.evidence.terminal_id == "terminal-1"
    assert actions(evs, "file_save") == []
    assert [(e.reason, e.source) for e in actions(evs, "edit")] == [("reload", "unknown")]
    assert path.read_text() == "one\n2nd\nthree\n"


def test_a_reload_in_an_editor_that_does_not_own_the_workspace_is_a_reload(home, workspace):
    """Two editors hold one file; the first owns the workspace and decides ``sed``'s change. The
    second, which watches nothing, learns the disk's new text from the owner's question: its
    small-edit reload after the decision is a reload too, not the person's edit."""
    path = workspace / "notes.txt"
    path.write_text(TEXT)
    shell = ShellFacts(workspace)
    opened = types.DidOpenTextDocumentParams(types.TextDocumentItem(uri(path), "plaintext", 1, TEXT))
    reload = types.DidChangeTextDocumentParams(
        types.VersionedTextDocumentIdentifier(version=2, uri=uri(path)), [change((1, 0), (1, 3), "TWO")]
    )

    def decided() -> list:
        return [e.payload for info in Store().sessions() for e in Store().events(info) if e.kind == "file_change"]

    async def scenario():
        async with shim(home, workspace, client_name="Visual Studio Code") as first:
            first.text_document_did_open(opened)
            await first.roundtrip()
            async with shim(home, workspace, client_name="Visual Studio Code") as second:
                second.text_document_did_open(opened)
                await second.roundtrip()
                shell.run(["sed", "-i", "s/two/TWO/", str(path)], "sed -i s/two/TWO/ notes.txt")
                await asyncio.to_thread(wait_for, decided, what="sed's change")
                for client in (first, second):
                    client.text_document_did_change(reload)
                    await client.roundtrip()

    try:
        run(scenario())
    finally:
        shell.close()
    lsp = [info for info in Store().sessions() if info.metadata.get("adapter") == "lsp"]
    assert len(lsp) == 2
    (changed,) = decided()
    assert (changed.file, changed.source, changed.evidence.command) == (
        "notes.txt",
        "external",
        "sed -i s/two/TWO/ notes.txt",
    )
    for info in lsp:
        evs = list(Store().events(info))
        assert actions(evs, "file_save") == []
        assert [(e.reason, e.source) for e in actions(evs, "edit")] == [("reload", "unknown")]


def test_unsaved_edits_stay_the_users_and_a_buffer_undone_to_its_saved_text_is_reloaded(home, workspace):
    """VS Code keeps a modified document as it is when another program changes its file (its save
    then asks whether to overwrite), and reloads one whose edits were undone back to the saved text
    (Ctrl+Z: clean again) with the smallest edit. ``sed -i`` on both, the reload of the second
    before the recorder decided ``sed``'s change (VS Code's ~100 ms) and, for a third file undone
    the same way, after it: each change is ``sed``'s, once; the person's typing and undoing stay
    their edits, each reload is a reload; the person's later save of the modified document
    (Overwrite) is their ``file_save`` of what they typed."""
    files = written(workspace, "dirty.txt", "undone.txt", "late.txt")
    shell = ShellFacts(workspace)

    async def scenario():
        async with shim(home, workspace, client_name="Visual Studio Code") as client:
            open_all(client, files.values())
            edit(client, files["dirty.txt"], 2, change((0, 3), (0, 3), "X"))  # typed, kept unsaved
            for name in ("undone.txt", "late.txt"):
                edit(client, files[name], 2, change((2, 5), (2, 5), "Y"))  # typed, then undone
                edit(client, files[name], 3, change((2, 5), (2, 6), ""))
            await client.roundtrip()
            shell.run(["sed", "-i", "s/two/TWO/", *map(str, files.values())], "sed -i s/two/TWO/ *.txt")
            edit(client, files["undone.txt"], 4, change((1, 0), (1, 3), "TWO"))
            await client.roundtrip()
            await asyncio.to_thread(
                wait_for, lambda: len(actions(lsp_events(), "file_change")) == 3, 15, "sed's changes"
            )
            edit(client, files["late.txt"], 4, change((1, 0), (1, 3), "TWO"))
            await client.roundtrip()
            await asyncio.sleep(0.5)
            await asyncio.to_thread(files["dirty.txt"].write_text, "oneX\ntwo\nthree\n")  # Overwrite
            client.text_document_did_save(
                types.DidSaveTextDocumentParams(types.TextDocumentIdentifier(uri(files["dirty.txt"])))
            )
            await client.roundtrip()
            await asyncio.to_thread(wait_for, lambda: actions(lsp_events(), "file_save"), 15, "the save")

    try:
        run(scenario())
    finally:
        shell.close()
    evs = lsp_events()
    changes = actions(evs, "file_change")
    assert sorted(c.file for c in changes) == sorted(files)
    assert {(c.source, c.evidence.command) for c in changes} == {("external", "sed -i s/two/TWO/ *.txt")}
    edits = actions(evs, "edit")
    assert [(e.file, e.diff.text) for e in edits if e.source == "user"] == [
        ("dirty.txt", "X"),
        ("undone.txt", "Y"),
        ("undone.txt", ""),
        ("late.txt", "Y"),
        ("late.txt", ""),
    ]
    assert sorted((e.file, e.source) for e in edits if e.reason == "reload") == [
        ("late.txt", "unknown"),
        ("undone.txt", "unknown"),
    ]
    (saved,) = actions(evs, "file_save")
    assert saved.file == "dirty.txt" and saved.content.sha256 == sha256(files["dirty.txt"].read_bytes()).hexdigest()
    assert files["dirty.txt"].read_text() == "oneX\ntwo\nthree\n"
