"""The pygls 2.x server: LSP messages in, :class:`~crowdcode_lsp.recorder.Recorder` calls out.

pygls keeps a copy of every open document in its workspace and re-joins the whole text on each
change; :class:`ShimProtocol` turns that off because the recorder keeps its own documents (the
per-keystroke cost must not grow with the document). Errors in a message never stop the server:
bad parameters are logged to the client (``window/logMessage``), unknown requests get
MethodNotFound, unknown notifications are ignored, unparsable input is logged and skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import threading
from collections.abc import Callable, Generator
from typing import Any, BinaryIO

import cattrs
from lsprotocol import converters, types
from pygls.lsp.server import LanguageServer
from pygls.protocol import JsonRPCNotification, JsonRPCRequestMessage, JsonRPCResponseMessage, LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from crowdcode_sdk import __version__
from crowdcode_sdk.errors import CrowdcodeError
from crowdcode_sdk.positions import Encoding

from .clients import opening, position_encoding, reports_views, wants_status
from .documents import file_path
from .prestart import STOPS, EarlyStart
from .recorder import Recorder

logger = logging.getLogger("crowdcode.lsp")

STATUS = "crowdcode/status"
"""Server to client: the recording state (see :meth:`Recorder.status`), for clients that ask."""

SYNC = "crowdcode/sync"
"""Server to client: a request whose answer (any answer: a client without a handler replies
MethodNotFound) comes after every notification the client sent before it (see docs/lsp.md)."""

HANGUP_GRACE_S = 1.0
"""After SIGHUP, SIGINT or SIGTERM, how long the messages the client wrote before it went may still
arrive (Emacs sends SIGHUP as it exits, right after writing its last changes and save)."""

CUSTOM_NOTIFICATIONS = {
    "crowdcode/selection": "selection",
    "crowdcode/visibleRanges": "visible_ranges",
    "crowdcode/activeEditor": "active_editor",
    "crowdcode/focus": "focus",
    "crowdcode/terminalFocus": "terminal_focus",
    "crowdcode/terminalCommand": "terminal_command",
    "crowdcode/terminalCommandEnd": "terminal_command_end",
    "crowdcode/terminalOutput": "terminal_output",
    "crowdcode/editReason": "edit_reason",
    "crowdcode/consent": "consent",
    "crowdcode/setRecording": "set_recording",
}
"""Client to server: method name -> :class:`Recorder` method taking the params object."""


SAVES = frozenset({types.TEXT_DOCUMENT_WILL_SAVE, types.TEXT_DOCUMENT_DID_SAVE})
"""The messages that say held changes (:meth:`Recorder.settle`) were the person's."""


def dict_converter() -> cattrs.Converter:
    """pygls's converter, but the params of non-LSP methods stay plain dicts: pygls turns them into
    namedtuples built class by class, which costs time on every message and hides their keys."""
    converter = converters.get_converter()

    def keep(data: dict[str, Any], cls: type) -> Any:
        return cls(**data)

    for cls in (JsonRPCRequestMessage, JsonRPCResponseMessage, JsonRPCNotification):
        converter.register_structure_hook(cls, keep)
    return converter


_HandlerSteps = Generator[tuple[Callable[..., Any], tuple[Any, ...], None], Any, None]
"""What pygls runs for a generator handler: each yielded (handler, args, kwargs) in turn."""


class ShimProtocol(LanguageServerProtocol):
    """pygls's protocol, minus its copies of the documents."""

    def _to_handler(self, method: str, params: Any) -> _HandlerSteps:
        if (handler := self.fm.features.get(method)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams) -> _HandlerSteps:
        yield from self._to_handler(types.TEXT_DOCUMENT_DID_OPEN, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams) -> _HandlerSteps:
        yield from self._to_handler(types.TEXT_DOCUMENT_DID_CHANGE, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams) -> _HandlerSteps:
        yield from self._to_handler(types.TEXT_DOCUMENT_DID_CLOSE, params)


class CrowdcodeServer(LanguageServer):
    recorder: Recorder | None = None
    loop: asyncio.AbstractEventLoop | None = None
    loop_thread: int | None = None
    status_wanted = False
    end_reason = "client disconnected"

    def report_server_error(self, error: Exception, source: Any) -> None:
        """Log to the client instead of pygls's pop-up: a recorder must never interrupt typing."""
        self.log(f"crowdcode: {error}", types.MessageType.Error)

    def log(self, message: str, kind: types.MessageType = types.MessageType.Info) -> None:
        """Log locally and to the client. Safe from any thread (the journal reports problems from
        its own): messages to the client are written by the event loop's thread only."""
        logger.log(logging.ERROR if kind == types.MessageType.Error else logging.INFO, "%s", message)
        loop = self.loop
        if loop is not None and threading.get_ident() != self.loop_thread:
            loop.call_soon_threadsafe(self._send_log, message, kind)
        else:
            self._send_log(message, kind)

    def _send_log(self, message: str, kind: types.MessageType) -> None:
        try:
            self.window_log_message(types.LogMessageParams(type=kind, message=message))
        except Exception:  # the client is gone: the local log has it
            logger.debug("cannot send a log message", exc_info=True)

    def send_status(self, status: dict[str, Any]) -> None:
        if self.status_wanted:
            self.protocol.notify(STATUS, status)

    def sync(self, done: Callable[[], None]) -> None:
        """Ask the client for :data:`SYNC` from any thread, without waiting; ``done`` runs on the
        event loop when the answer (a result or an error) arrives. A client that never answers
        leaves ``done`` uncalled: attribution stops waiting for it after its fallback time."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return

        def send() -> None:
            try:
                answer = self.protocol.send_request(SYNC, {})
            except Exception:  # the client is gone
                logger.debug("cannot send %s", SYNC, exc_info=True)
                return
            answer.add_done_callback(lambda _: done())

        loop.call_soon_threadsafe(send)

    def close(self, reason: str) -> None:
        if self.recorder is not None:
            self.recorder.stop(reason)

    def catch_hangup(self) -> None:
        """SIGHUP (a closed terminal; Emacs on exit, to the server's process group), SIGINT (Ctrl+C
        in the terminal that started the editor: code-server's process group) and SIGTERM end the
        session cleanly instead of killing the process with it unclosed."""
        if self.loop is None:
            return
        for signum in STOPS:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                self.loop.add_signal_handler(signum, self.hang_up, signum)

    def hang_up(self, signum: int) -> None:
        """Read on until the client's end of the pipe closes (the normal end, in ``serve``) or
        HANGUP_GRACE_S have passed; then close the session and exit."""
        if self.end_reason == "editor closed":
            return
        self.end_reason = "editor closed"
        logger.info("%s: closing the session", signal.Signals(signum).name)
        assert self.loop is not None
        self.loop.call_later(HANGUP_GRACE_S, self._exit_now)

    def _exit_now(self) -> None:
        """The client has gone without closing the pipe: its reader thread would block the exit."""
        try:
            self.close(self.end_reason)
        finally:
            logging.shutdown()
            os._exit(0)


def build_server(early: EarlyStart | None = None) -> CrowdcodeServer:
    """The server; with ``early``, the recorder that :mod:`.prestart` made from ``initialize``."""
    converter = dict_converter()
    server = CrowdcodeServer("crowdcode", __version__, protocol_cls=ShimProtocol, converter_factory=lambda: converter)

    def handler(method: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register a feature whose bad parameters are logged, not raised to the client."""

        def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(fn)
            def wrapper(params: Any) -> Any:
                if server.recorder is None:
                    server.log(f"{method} before initialize: ignored", types.MessageType.Warning)
                    return None
                try:
                    if method not in SAVES:  # which settle them themselves
                        server.recorder.settle()
                    return fn(server.recorder, params)
                except CrowdcodeError as exc:
                    server.log(f"{method}: {exc}", types.MessageType.Warning)
                    return None

            server.feature(method)(wrapper)
            return fn

        return decorator

    @server.feature(types.INITIALIZE)
    def initialize(params: types.InitializeParams) -> None:
        server.loop_thread = threading.get_ident()
        with contextlib.suppress(RuntimeError):  # no loop when driven message by message (benchmarks)
            server.loop = asyncio.get_running_loop()
        facts = opening(converter.unstructure(params))
        client = params.client_info
        negotiated = server.workspace.position_encoding  # pygls picks the client's first preference
        general = params.capabilities.general
        encoding = position_encoding(
            Encoding(getattr(negotiated, "value", negotiated) or Encoding.UTF16),
            general.position_encodings if general else None,
            client.name if client else None,
        )
        server.status_wanted = wants_status(facts.options)
        server.catch_hangup()
        if early is not None and server.recorder is None:
            server.recorder = early.recorder
            server.recorder.encoding = encoding
            for signum in early.signals:
                server.hang_up(signum)
        else:
            server.recorder = Recorder(
                editor=facts.editor,
                roots=facts.roots,
                encoding=encoding,
                notify_status=server.send_status,
                log=server.log,
            )
        server.recorder.reports_views = server.recorder.reports_views or reports_views(facts.options)
        if server.loop is not None:  # (no loop: no answer to a request could ever be read)
            server.recorder.follow_client(server.sync)

    @server.feature(types.INITIALIZED)
    def initialized(params: types.InitializedParams) -> None:
        if early is not None and server.recorder is early.recorder:
            # Started at initialize: what it logged and its status reach the client now.
            early.log.connect(server.log)
            early.status.connect(server.send_status, replay=False)
            early.recorder.send_status()  # with the negotiated encoding
        elif server.recorder is not None:
            server.recorder.start_if_allowed()

    @server.feature(types.SHUTDOWN)
    def shutdown(params: Any) -> None:
        server.close("shutdown")

    @handler(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(recorder: Recorder, params: types.DidOpenTextDocumentParams) -> None:
        doc = params.text_document
        recorder.did_open(doc.uri, doc.text, doc.version)

    @handler(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(recorder: Recorder, params: types.DidChangeTextDocumentParams) -> None:
        recorder.did_change(
            params.text_document.uri,
            params.text_document.version,
            (
                (
                    None
                    if isinstance(change, types.TextDocumentContentChangeWholeDocument)
                    else (
                        (change.range.start.line, change.range.start.character),
                        (change.range.end.line, change.range.end.character),
                    ),
                    change.text,
                )
                for change in params.content_changes
            ),
        )

    @handler(types.TEXT_DOCUMENT_WILL_SAVE)
    def will_save(recorder: Recorder, params: types.WillSaveTextDocumentParams) -> None:
        recorder.will_save(params.text_document.uri)

    @handler(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(recorder: Recorder, params: types.DidSaveTextDocumentParams) -> None:
        recorder.did_save(params.text_document.uri)

    @handler(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(recorder: Recorder, params: types.DidCloseTextDocumentParams) -> None:
        recorder.did_close(params.text_document.uri)

    @handler(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
    def folders(recorder: Recorder, params: types.DidChangeWorkspaceFoldersParams) -> None:
        recorder.folders_changed(
            [p for p in (file_path(f.uri) for f in params.event.added) if p],
            [p for p in (file_path(f.uri) for f in params.event.removed) if p],
        )

    for method, name in CUSTOM_NOTIFICATIONS.items():
        handler(method)(lambda recorder, params, name=name: getattr(recorder, name)(params))

    @handler("crowdcode/panic")
    def panic(recorder: Recorder, params: Any) -> dict[str, Any]:
        return recorder.panic()

    @handler("crowdcode/getStatus")
    def get_status(recorder: Recorder, params: Any) -> dict[str, Any]:
        return recorder.status()

    return server


def serve(
    *, tcp: tuple[str, int] | None = None, stdin: BinaryIO | None = None, early: EarlyStart | None = None
) -> None:
    """Run until the client exits (or the connection ends); the session is closed either way.
    ``stdin`` and ``early`` come from :func:`.prestart.prestart` (stdio only)."""
    server = build_server(early)
    try:
        if tcp is None:
            server.start_io(stdin)
        else:
            server.start_tcp(*tcp)
    finally:
        server.close(server.end_reason)


__all__ = ["CUSTOM_NOTIFICATIONS", "STATUS", "CrowdcodeServer", "build_server", "serve"]
