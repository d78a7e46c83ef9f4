"""Broken input never stops the shim: it answers with errors or logs, and keeps recording."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
from pathlib import Path
from typing import Any

from .lsp_harness import SERVER, actions, events, replay, uri


class RawClient:
    """Frames bytes by hand, so that the test can send what no library would."""

    def __init__(self, home: Path) -> None:
        self.process = subprocess.Popen(
            [*SERVER, "--log-file", str(home.parent / "lsp.log")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "CROWDCODE_HOME": str(home)},
        )
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stream = self.process.stdout
        assert stream is not None
        while True:
            length = 0
            while (line := stream.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if not line:
                return
            self.messages.put(json.loads(stream.read(length)))

    def send_bytes(self, body: bytes, header: bytes | None = None) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((header or b"Content-Length: %d\r\n\r\n" % len(body)) + body)
        self.process.stdin.flush()

    def send(self, message: dict[str, Any]) -> None:
        self.send_bytes(json.dumps({"jsonrpc": "2.0", **message}).encode())

    def wait_for(self, predicate, timeout: float = 10) -> dict[str, Any]:
        while True:
            message = self.messages.get(timeout=timeout)
            if predicate(message):
                return message

    def request(self, request_id: int, method: str, params: Any = None) -> dict[str, Any]:
        self.send({"id": request_id, "method": method, "params": params})
        return self.wait_for(lambda m: m.get("id") == request_id and "method" not in m)

    def logs_until_answer(self, request_id: int) -> list[str]:
        """Log messages seen before the answer to a status request (which is sent in order)."""
        self.send({"id": request_id, "method": "crowdcode/getStatus", "params": {}})
        logs = []
        while (message := self.messages.get(timeout=10)).get("id") != request_id:
            if message.get("method") == "window/logMessage":
                logs.append(message["params"]["message"])
        return logs


def test_malformed_messages_get_errors_or_logs_and_the_server_keeps_running(home, workspace):
    path = workspace / "a.txt"
    client = RawClient(home)
    try:
        init = client.request(1, "initialize", {"processId": None, "rootUri": uri(workspace), "capabilities": {}})
        assert init["result"]["capabilities"]["positionEncoding"] == "utf-16"
        client.send({"method": "initialized", "params": {}})

        client.send_bytes(b"{this is not json")
        client.send_bytes(b"[1, 2, 3]")
        client.send_bytes(b"", header=b"X-Garbage: yes\r\n\r\n")
        unknown = client.request(2, "no/suchMethod", {})
        assert unknown["error"]["code"] == -32601
        client.send({"method": "no/suchNotification", "params": {"x": 1}})
        client.send({"method": "textDocument/didOpen", "params": {"textDocument": {"uri": 5}}})
        client.send({"method": "crowdcode/selection", "params": {"uri": uri(path), "selections": "everything"}})
        client.send({"method": "crowdcode/consent", "params": {"status": "maybe"}})
        logs = client.logs_until_answer(3)
        assert any("not open" in line for line in logs)
        assert any("expected one of" in line for line in logs)

        text = "héllo\n"
        client.send(
            {
                "method": "textDocument/didOpen",
                "params": {"textDocument": {"uri": uri(path), "languageId": "text", "version": 1, "text": text}},
            }
        )
        _edit(client, path, 2, (0, 5), (0, 5), "!")
        _edit(client, path, 3, (7, 0), (7, 1), "beyond the end")  # line 7 does not exist
        _edit(client, path, 4, (0, 0), (0, 0), "lost ")  # the copy is out of sync: not recorded
        logs = client.logs_until_answer(4)
        assert any("does not fit the document" in line for line in logs)
        client.send(
            {
                "method": "crowdcode/selection",
                "params": {
                    "uri": uri(path),
                    "selections": [{"anchor": {"line": 50, "character": 0}, "active": {"line": 0, "character": 0}}],
                },
            }
        )
        assert any("past the end" in line for line in client.logs_until_answer(5))

        # Opening it again (what a client does after an error) makes it trustworthy again.
        client.send({"method": "textDocument/didClose", "params": {"textDocument": {"uri": uri(path)}}})
        client.send(
            {
                "method": "textDocument/didOpen",
                "params": {"textDocument": {"uri": uri(path), "languageId": "text", "version": 5, "text": "fresh\n"}},
            }
        )
        _edit(client, path, 6, (0, 5), (0, 5), "er")
        assert client.request(6, "shutdown")["result"] is None
        client.send({"method": "exit"})
        assert client.process.wait(timeout=10) == 0
    finally:
        client.process.kill()
        client.process.wait()

    evs = events(home)
    typed = [e.diff.text for e in actions(evs, "edit") if e.reason is None]
    assert typed == ["!", "er"]  # the change that did not fit, and the one after it, are not recorded
    kinds = [e.kind for e in evs]
    assert kinds.count("file_open") == 2
    reopened = kinds.index("file_open", kinds.index("file_open") + 1)
    assert replay(evs[:reopened], "a.txt", text) == "héllo!\n"
    # After the reopen the editor's text is the baseline (attribution may record the jump to it as
    # a reload, which is not the user's edit).
    after = [e for e in evs[reopened:] if e.kind != "edit" or e.payload.reason is None]
    assert replay(after, "a.txt", "fresh\n") == "fresher\n"
    assert evs[-1].kind == "session_end"


def _edit(client: RawClient, path: Path, version: int, start, end, text: str) -> None:
    client.send(
        {
            "method": "textDocument/didChange",
            "params": {
                "textDocument": {"uri": uri(path), "version": version},
                "contentChanges": [
                    {
                        "range": {
                            "start": {"line": start[0], "character": start[1]},
                            "end": {"line": end[0], "character": end[1]},
                        },
                        "text": text,
                    }
                ],
            },
        }
    )
