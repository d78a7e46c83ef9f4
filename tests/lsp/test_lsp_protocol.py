"""``crowdcode lsp`` driven by pygls's own language client, over stdio."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types

from crowdcode_sdk.schema import Source

from .lsp_harness import actions, change, events, replay, run, shim, uri

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
