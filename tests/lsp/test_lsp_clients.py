"""``crowdcode lsp`` and clients that bend the protocol: lsp-mode's code-point columns, clients that
do not know ``crowdcode/status``, and editors that end the server with a signal as they exit."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest
from lsprotocol import types

from crowdcode_sdk.schema import Source

from ..conftest import only_session
from .lsp_harness import Client, actions, change, events, replay, run, shim, uri

TEXT = "a 😀 b\n𝄞\n"


def _open(client: Client, path: Path, text: str) -> None:
    client.text_document_did_open(types.DidOpenTextDocumentParams(types.TextDocumentItem(uri(path), "text", 1, text)))


def _change(client: Client, path: Path, version: int, *changes: types.TextDocumentContentChangePartial) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(version=version, uri=uri(path)), list(changes)
        )
    )


def _save(client: Client, path: Path, text: str) -> None:
    client.text_document_will_save(
        types.WillSaveTextDocumentParams(types.TextDocumentIdentifier(uri(path)), types.TextDocumentSaveReason.Manual)
    )
    path.write_text(text)
    client.text_document_did_save(types.DidSaveTextDocumentParams(types.TextDocumentIdentifier(uri(path))))


def test_lsp_mode_columns_are_code_points_and_it_gets_no_status(home, workspace):
    """lsp-mode (clientInfo "emacs") offers no position encoding and counts code points."""
    path = workspace / "emoji.txt"
    path.write_text(TEXT)
    final = "a 😀 b!\n𝄞x\n"

    async def scenario() -> list[object]:
        async with shim(home, workspace, client_name="emacs", options={"status": False}) as client:
            _open(client, path, TEXT)
            _change(client, path, 2, change((0, 5), (0, 5), "!"))  # after "b": code point 5, UTF-16 6
            _change(client, path, 3, change((1, 1), (1, 1), "x"))  # after the clef: code point 1
            await client.roundtrip()
            _save(client, path, final)
            await client.roundtrip()
            return client.statuses

    assert run(scenario()) == []  # "Unknown notification" in lsp-mode for each one otherwise
    evs = events(home)
    assert replay(evs, "emoji.txt", TEXT) == final
    assert all(edit.source is Source.USER for edit in actions(evs, "edit"))
    assert len(actions(evs, "file_save")) == 1


def test_a_client_that_negotiates_is_taken_at_its_word(home, workspace):
    path = workspace / "emoji.txt"
    path.write_text(TEXT)

    async def scenario() -> None:
        async with shim(home, workspace, client_name="emacs", encodings=["utf-16"]) as client:
            _open(client, path, TEXT)
            _change(client, path, 2, change((0, 6), (0, 6), "!"))  # UTF-16, as negotiated
            await client.roundtrip()
            assert client.statuses  # it asked (the harness's default)

    run(scenario())
    assert replay(events(home), "emoji.txt", TEXT) == "a 😀 b!\n𝄞\n"


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGINT, signal.SIGTERM])
def test_an_editor_that_exits_with_a_signal_loses_nothing(home, workspace, signum):
    """Emacs writes its last change and the save, then exits and sends SIGHUP at once: what it
    wrote is recorded and the session ends as closed by the editor."""
    path = workspace / "fast.txt"
    path.write_text("")
    typed = "typed then C-x C-s C-x C-c 😀\n"

    async def scenario() -> float:
        async with shim(home, workspace, client_name="Eglot") as client:
            await client.roundtrip()
            _open(client, path, "")
            _change(client, path, 2, change((0, 0), (0, 0), typed))
            _save(client, path, typed)
            server = client._server
            assert server is not None
            server.send_signal(signum)
            assert server.stdin is not None
            server.stdin.close()  # the editor is gone
            started = time.monotonic()
            await asyncio.wait_for(server.wait(), 10)
            took = time.monotonic() - started
            assert server.returncode == 0
            await client.stop()
            return took

    took = run(scenario())
    assert took < 3.0, f"the server took {took:.2f} s to exit"
    info = only_session(ended=True)
    assert info.end_reason == "editor closed"
    evs = events(home)
    assert replay(evs, "fast.txt", "") == typed
    assert len(actions(evs, "file_save")) == 1


def test_a_signal_while_the_client_keeps_its_pipe_open_still_ends_the_session(home, workspace):
    path = workspace / "open.txt"
    path.write_text("x\n")

    async def scenario() -> None:
        async with shim(home, workspace) as client:
            _open(client, path, "x\n")
            _change(client, path, 2, change((0, 1), (0, 1), "y"))
            await client.roundtrip()
            server = client._server
            assert server is not None
            server.send_signal(signal.SIGTERM)
            await asyncio.wait_for(server.wait(), 10)
            assert server.returncode == 0
            await client.stop()

    run(scenario())
    assert only_session(ended=True).end_reason == "editor closed"
    assert replay(events(home), "open.txt", "x\n") == "xy\n"
