"""A viewport that never changes while the cursor moves across screens is reported by
``crowdcode status``, while the session records and after it ended: a VS Code extension that forwards its visible ranges once and then drops
them (as it once did for months) is suspicious; one that forwards them is not."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
from lsprotocol import types

from ..conftest import only_session, run_cli
from .lsp_harness import run, shim, uri


def _live_status(timeout: float = 15) -> dict:
    """``crowdcode status --json`` once the live session's journal holds the paging (it is
    written every flush interval): polled until its suspicious sessions say so, or the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        status = orjson.loads(run_cli("status", "--json").stdout)
        if status["suspiciousSessions"] or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


def _page_down(workspace: Path, home: Path, *, forward_ranges: bool) -> dict:
    """Page down five times; returns what ``crowdcode status`` said while the session was live."""
    path = workspace / "long.txt"
    path.write_text("".join(f"line {n}\n" for n in range(400)))

    async def scenario() -> None:
        async with shim(home, workspace) as client:
            client.text_document_did_open(
                types.DidOpenTextDocumentParams(types.TextDocumentItem(uri(path), "plaintext", 1, path.read_text()))
            )
            client.notify("crowdcode/activeEditor", {"uri": uri(path)})
            client.notify("crowdcode/visibleRanges", {"uri": uri(path), "ranges": [[[0, 0], [39, 0]]]})
            # PageDown five times, a person's pace: the cursor lands a screen further each time.
            for page in range(1, 6):
                await asyncio.sleep(0.6)
                line = page * 40
                client.notify("crowdcode/selection", {"uri": uri(path), "selections": [[[line, 0], [line, 0]]]})
                if forward_ranges:
                    client.notify(
                        "crowdcode/visibleRanges", {"uri": uri(path), "ranges": [[[line, 0], [line + 39, 0]]]}
                    )
            await client.roundtrip()
            if not forward_ranges:
                live.update(_live_status())

    live: dict = {}
    run(scenario())
    only_session(ended=True)
    return live


def test_a_viewport_stuck_while_the_cursor_pages_down_is_suspicious(home: Path, workspace: Path) -> None:
    live = _page_down(workspace, home, forward_ranges=False)
    session = only_session(ended=True)
    assert [entry["sessionId"] for entry in live["live"]] == [session.id]
    assert "stayed at lines 1-40" in live["suspiciousSessions"][session.id], "reported while it records"
    status = orjson.loads(run_cli("status", "--json").stdout)
    reason = status["suspiciousSessions"][session.id]
    assert "the viewport of long.txt stayed at lines 1-40 while the cursor moved to lines 41, 81, 121" in reason
    text = run_cli("status").stdout
    assert f"Suspicious: session {session.id}: the viewport of long.txt stayed at lines 1-40" in text


def test_a_viewport_that_follows_the_cursor_is_not(home: Path, workspace: Path) -> None:
    _page_down(workspace, home, forward_ranges=True)
    status = orjson.loads(run_cli("status", "--json").stdout)
    assert status["suspiciousSessions"] == {}
    assert "Suspicious" not in run_cli("status").stdout
