"""End to end through the LSP shim: a protocol client (pygls, as editors speak it) opens a file in
a workspace under the user's home, types a fresh corpus of fake secrets into it one character per
``didChange`` (as editors send typing) and saves; ``crowdcode upload --now`` to a real ingest
server on 127.0.0.1; every stored bundle searched for every 8-character fragment of every secret,
the home path and the user name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from lsprotocol import types

from crowdcode_sdk.locations import Locations
from tests.fresh_corpus import fresh_rng, secrets
from tests.privacy_support import bundles_in, configure, leaked_fragments, make_ingest

from ..conftest import only_session
from .lsp_harness import Client, change, run, shim, uri

USER = "zoltanfey"
CROWDCODE = str(Path(sys.executable).with_name("crowdcode"))


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
    me = tmp_path / USER
    workspace = me / "project"
    workspace.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(me))
    for variable in ("USER", "LOGNAME"):
        monkeypatch.setenv(variable, USER)
    server = make_ingest(tmp_path)
    try:
        configure(
            Locations.default(),
            **{
                "consent.status": "accepted",
                "upload.url": server.url,
                "upload.background": False,
                "privacy.hold_back_s": 0,
            },
        )
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
        upload = subprocess.run([CROWDCODE, "upload", "--now"], capture_output=True, text=True, timeout=120)
        assert upload.returncode == 0 and "Traceback" not in upload.stderr, upload.stderr
        everything = "\n".join(data.decode("latin-1") for members in bundles_in(server) for data in members.values())
    finally:
        server.close()
    assert '"kind":"edit"' in everything and '"kind":"file_save"' in everything
    assert '"text":"*"' in everything  # typed characters of secrets, masked one event at a time
    leaks = leaked_fragments(everything, samples)
    assert not leaks, f"seed {seed}: {leaks}"
    assert str(me) not in everything and USER not in everything, f"seed {seed}"
    print(f"seed {seed}: {len(samples)} secrets, none left", file=sys.stderr)
