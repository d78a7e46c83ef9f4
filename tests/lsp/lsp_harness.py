"""Test helpers: start ``crowdcode lsp`` under pygls's own client, read back what it recorded."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from crowdcode_lsp.server import dict_converter
from lsprotocol import types
from pygls.lsp.client import LanguageClient
from pygls.uris import from_fs_path

from crowdcode_sdk.locations import Locations
from crowdcode_sdk.positions import apply_change
from crowdcode_sdk.schema import Event
from crowdcode_sdk.store import Store

from ..conftest import only_session

SERVER = [sys.executable, "-m", "crowdcode_sdk.cli.main", "lsp", "--stdio"]


class Client(LanguageClient):
    """pygls's client, collecting what the server sends on its own."""

    def __init__(self) -> None:
        super().__init__("crowdcode-tests", "1.0", converter_factory=dict_converter)
        self.statuses: list[dict[str, Any]] = []
        self.logs: list[str] = []
        self.status_seen = asyncio.Event()
        self.registrations: list[str] = []

        @self.feature(types.CLIENT_REGISTER_CAPABILITY)
        def on_register(params: types.RegistrationParams) -> None:
            self.registrations.extend(r.method for r in params.registrations)

        @self.feature("crowdcode/status")
        def on_status(params: Any) -> None:
            self.statuses.append(params)
            self.status_seen.set()

        @self.feature(types.WINDOW_LOG_MESSAGE)
        def on_log(params: types.LogMessageParams) -> None:
            self.logs.append(params.message)

    def notify(self, method: str, params: Any) -> None:
        self.protocol.notify(method, params)

    async def request(self, method: str, params: Any) -> Any:
        return await asyncio.wait_for(self.protocol.send_request_async(method, params), 10)

    async def roundtrip(self) -> None:
        """Wait until the server has handled everything sent so far (it answers in order)."""
        await self.request("crowdcode/getStatus", {})


def uri(path: Path) -> str:
    return from_fs_path(str(path))  # type: ignore[return-value]


@asynccontextmanager
async def shim(
    home: Path,
    workspace: Path,
    *,
    encodings: list[str] | None = None,
    options: dict[str, Any] | None = None,
    client_name: str = "pytest",
    watch_files: bool = False,
    channel: tuple[str, ...] = (),
):
    """A started and initialized shim; shut down (session closed) on exit. ``channel``: a command
    the server runs under (``tests/slow_channel.py`` holding the client's messages back)."""
    client = Client()
    env = {**os.environ, "CROWDCODE_HOME": str(home)}
    await client.start_io(*channel, *SERVER, "--log-file", str(home.parent / "lsp.log"), "--verbose", env=env)
    capabilities = types.ClientCapabilities(
        general=types.GeneralClientCapabilities(position_encodings=encodings) if encodings else None,
        workspace=types.WorkspaceClientCapabilities(
            did_change_watched_files=types.DidChangeWatchedFilesClientCapabilities(dynamic_registration=True)
        )
        if watch_files
        else None,
        text_document=types.TextDocumentClientCapabilities(
            synchronization=types.TextDocumentSyncClientCapabilities(will_save=True, did_save=True)
        ),
    )
    result = await asyncio.wait_for(
        client.initialize_async(
            types.InitializeParams(
                capabilities=capabilities,
                client_info=types.ClientInfo(name=client_name, version="1.0"),
                workspace_folders=[types.WorkspaceFolder(uri=uri(workspace), name=workspace.name)],
                initialization_options={"status": True, **(options or {})},
            )
        ),
        10,
    )
    client.result = result  # type: ignore[attr-defined]
    client.initialized(types.InitializedParams())
    try:
        yield client
    finally:
        if not client.stopped:
            await asyncio.wait_for(client.shutdown_async(None), 10)
            client.exit(None)
            await asyncio.wait_for(client.stop(), 10)


def sessions(home: Path) -> list[Any]:
    return Store(Locations.default()).sessions()


def events(home: Path) -> list[Event]:
    return list(Store(Locations.default()).events(only_session()))


def lsp_events() -> list[Event]:
    """The events of the one session the shim recorded, among the sessions of the shells a test
    runs beside it to change files."""
    recorded = [info for info in Store(Locations.default()).sessions() if info.metadata.get("adapter") == "lsp"]
    assert len(recorded) == 1, f"expected one LSP session, found {len(recorded)}"
    return list(Store(Locations.default()).events(recorded[0]))


def assert_changed_by(evs: list[Event], files: Iterable[str], command: str) -> None:
    """Each of ``files`` has a recorded disk change, all of them by the external ``command``, and
    nothing was recorded as the person's save."""
    changes = [e.payload for e in evs if e.kind == "file_change"]
    assert sorted(c.file for c in changes) == sorted(files)
    assert {(c.source, c.evidence.command if c.evidence else None) for c in changes} == {("external", command)}
    assert actions(evs, "file_save") == []


def actions(evs: list[Event], kind: str) -> list[Any]:
    return [e.payload for e in evs if e.kind == kind]


def replay(evs: list[Event], file: str, text: str) -> str:
    """The text of ``file`` after applying its recorded edits, in order, to ``text``."""
    for edit in actions(evs, "edit"):
        if edit.file == file:
            text = apply_change(text, edit.diff)
    return text


def change(start: tuple[int, int], end: tuple[int, int], text: str) -> types.TextDocumentContentChangePartial:
    return types.TextDocumentContentChangePartial(
        range=types.Range(types.Position(*start), types.Position(*end)), text=text
    )


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))
