"""End to end through the LSP shim: a protocol client (pygls, as editors speak it) opens a file in
a workspace under the user's home, types a fresh corpus of fake secrets into it one character per
``didChange`` (as editors send typing) and saves; ``crowdcode upload --now`` to a real ingest
server on 127.0.0.1; every stored bundle searched for every 8-character fragment of every secret,
the home path and the user name."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from lsprotocol import types

from tests.fresh_corpus import fresh_rng, secrets
from tests.privacy_support import as_user, assert_nothing_leaked, consenting_ingest, upload_now, uploaded_text

from ..conftest import only_session
from .lsp_harness import Client, change, run, shim, uri


def _typed(client: Client, path: Path, text: str, version: int) -> int:
    """``text`` typed at the end of the document, one character per change; the next version."""
    line = column = 0
    for c in text:
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                types.VersionedTextDocumentIdentifier(version=version, uri=uri(path)),
                [change((line, column), (line, column), c)],
            )
        )
        version += 1
        line, column = (line + 1, 0) if c == "\n" else (line, column + len(c.encode("utf-16-le")) // 2)
    return version


def test_no_secret_or_identity_leaves_through_the_lsp_shim(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    me = as_user(tmp_path, monkeypatch)
    workspace = me / "project"
    workspace.mkdir()
    with consenting_ingest(tmp_path) as server:
        seed, rng = fresh_rng()
        samples = [(c, s, line) for c, s, line in secrets(rng) if "\n" not in line]
        text = "".join(f"{line}\n" for _, _, line in samples)
        path = workspace / "notes.py"
        path.write_text("")

        async def scenario() -> None:
            async with shim(home, workspace) as client:
                client.text_document_did_open(
                    types.DidOpenTextDocumentParams(types.TextDocumentItem(uri(path), "python", 1, ""))
                )
                _typed(client, path, text, 2)
                await client.roundtrip()
                client.text_document_will_save(
                    types.WillSaveTextDocumentParams(
                        types.TextDocumentIdentifier(uri(path)), types.TextDocumentSaveReason.Manual
                    )
                )
                path.write_text(text)
                client.text_document_did_save(types.DidSaveTextDocumentParams(types.TextDocumentIdentifier(uri(path))))
                await client.roundtrip()

        run(scenario())
        only_session(ended=True)
        upload_now()
        everything = uploaded_text(server)
    assert '"kind":"edit"' in everything and '"kind":"file_save"' in everything
    assert '"text":"*"' in everything  # typed characters of secrets, masked one event at a time
    assert_nothing_leaked(everything, samples, me, seed)
    print(f"seed {seed}: {len(samples)} secrets, none left", file=sys.stderr)
