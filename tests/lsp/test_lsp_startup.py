"""The session starts from the client's ``initialize``, before the server has imported pygls
(``crowdcode_lsp/prestart.py``); what it says waits until ``initialized``; anything else first is
left to the server as before."""

from __future__ import annotations

import time

from crowdcode_sdk.store import Store

from ..conftest import only_session
from .lsp_harness import uri
from .test_lsp_malformed import RawClient


def _initialize(workspace, encodings: list[str] | None = None) -> dict:
    general = {"positionEncodings": encodings} if encodings else {}
    return {
        "processId": None,
        "clientInfo": {"name": "Visual Studio Code", "version": "1.100.3"},
        "rootUri": uri(workspace),
        "capabilities": {"general": general},
        "initializationOptions": {"host": "code-server", "status": True},
    }


def test_the_session_starts_from_initialize_and_its_status_follows_initialized(home, workspace):
    client = RawClient(home)
    try:
        init = client.request(1, "initialize", _initialize(workspace, ["utf-8", "utf-16"]))
        assert init["result"]["capabilities"]["positionEncoding"] == "utf-8"
        # No initialized yet: the session already runs, with the client's facts.
        info = only_session()
        assert info.metadata["editor"] == {"name": "Visual Studio Code", "version": "1.100.3", "host": "code-server"}
        assert info.metadata["workspace"]["name"] == workspace.name
        assert client.messages.empty()  # nothing custom before the client has said initialized
        client.send({"method": "initialized", "params": {}})
        status = client.wait_for(lambda m: m.get("method") == "crowdcode/status")["params"]
        assert status["recording"] is True and status["sessionId"] == info.id
        assert status["positionEncoding"] == "utf-8"  # the negotiated one, not the provisional one
        path = workspace / "a.txt"
        client.send(
            {
                "method": "textDocument/didOpen",
                "params": {"textDocument": {"uri": uri(path), "languageId": "plaintext", "version": 1, "text": "é\n"}},
            }
        )
        client.send(
            {
                "method": "textDocument/didChange",
                "params": {
                    "textDocument": {"uri": uri(path), "version": 2},
                    "contentChanges": [
                        {
                            "range": {"start": {"line": 0, "character": 2}, "end": {"line": 0, "character": 2}},
                            "text": "x",
                        }
                    ],
                },
            }
        )  # after "é": 2 bytes in UTF-8
        client.request(2, "shutdown")
        client.send({"method": "exit"})
        assert client.process.wait(timeout=10) == 0
    finally:
        client.process.kill()
    info = only_session(ended=True)
    edits = [e.payload for e in Store().events(info) if e.kind == "edit"]
    assert [(e.diff.range_offset, e.diff.text) for e in edits] == [(1, "x")]


def test_a_first_message_that_is_not_initialize_is_left_to_the_server(home, workspace):
    client = RawClient(home)
    try:
        client.send_bytes(b"{this is not json")
        init = client.request(1, "initialize", _initialize(workspace))
        assert init["result"]["capabilities"]["positionEncoding"] == "utf-16"
        time.sleep(0.5)
        assert Store().sessions() == []  # started the usual way, at initialized
        client.send({"method": "initialized", "params": {}})
        status = client.wait_for(lambda m: m.get("method") == "crowdcode/status")["params"]
        assert status["recording"] is True
        client.request(2, "shutdown")
        client.send({"method": "exit"})
        assert client.process.wait(timeout=10) == 0
    finally:
        client.process.kill()
    assert only_session(ended=True).end_reason == "shutdown"
