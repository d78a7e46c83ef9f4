"""The session starts from the client's ``initialize`` before pygls is imported.

Importing pygls and lsprotocol (its types are one 4 MB module of attrs classes) is most of the
server's start-up: about 0.6 of a second on a quiet machine, seconds under load, while the editor
is already restoring its files. In stdio mode the first message is therefore read here, with the
standard library; when it is ``initialize``, the recorder is made from its JSON and its session
started (consent and opt-outs checked as at ``initialized``), and only then is the server imported
and given the same bytes to read again, as if they had not been read.

What the recorder says before the server exists (its log lines, its status) waits in a
:class:`Relay` until the client has the ``initialize`` answer. Anything unexpected in the first
message (not ``initialize``, not JSON, a field of the wrong type) leaves it to the server, which
answers it as it always did; recording problems never stop the server from starting.
"""

from __future__ import annotations

import io
import json
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO, Generic, TypeVar

from crowdcode_sdk.positions import Encoding

from .clients import opening
from .recorder import Recorder

logger = logging.getLogger("crowdcode.lsp")

T = TypeVar("T")

STOPS = (signal.SIGHUP, signal.SIGINT, signal.SIGTERM)
"""The signals that end a session cleanly once the server runs (``CrowdcodeServer.catch_hangup``)."""

MAX_HEADER_LINES = 16
"""A message has one or two header lines (``Content-Length``, ``Content-Type``); more is no LSP."""


class Relay(Generic[T]):
    """A callback that holds its calls until :meth:`connect` gives it where they go (from any
    thread: the journal reports problems from its own)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: list[T] = []
        self._target: Callable[[T], None] | None = None

    def __call__(self, value: T) -> None:
        with self._lock:
            if self._target is None:
                self._held.append(value)
                return
            target = self._target
        target(value)

    def connect(self, target: Callable[[T], None], *, replay: bool = True) -> None:
        """From now on calls go to ``target``; those held go there first unless ``replay`` is
        false (a state such as the status, whose latest value is sent afresh instead)."""
        with self._lock:
            held, self._held, self._target = self._held, [], target
        for value in held if replay else ():
            target(value)


class Replayed(io.RawIOBase):
    """``stream`` with ``head`` put back in front of it, as a raw stream for
    :class:`io.BufferedReader` (whose ``readline`` and ``read(n)`` pygls uses)."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        super().__init__()
        self._head = memoryview(head)
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = (
            self._stream.read1(len(buffer))
            if isinstance(self._stream, io.BufferedIOBase)
            else self._stream.read(len(buffer))
        )
        buffer[: len(data)] = data
        return len(data)


@dataclass
class EarlyStart:
    """The recorder made from ``initialize`` before the server, and where its output waits."""

    recorder: Recorder
    log: Relay[str]
    status: Relay[dict[str, Any]]
    options: dict[str, Any]
    signals: list[int]
    """SIGHUP, SIGINT and SIGTERM received before the server could handle them (an editor that
    quits at once, Emacs sending SIGHUP): the server acts on them as soon as it runs."""


def read_message(stream: BinaryIO) -> tuple[bytes, Any]:
    """One LSP message from ``stream``: every byte read, and its JSON body (``None`` when the
    headers or the body are not a message)."""
    raw = b""
    length = None
    for _ in range(MAX_HEADER_LINES):
        line = stream.readline()
        raw += line
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            length = int(value)
    else:
        return raw, None
    if length is None or not raw.endswith(b"\n"):
        return raw, None
    body = stream.read(length)
    raw += body
    try:
        return raw, json.loads(body)
    except ValueError:
        return raw, None


def prestart(stdin: BinaryIO) -> tuple[BinaryIO, EarlyStart | None]:
    """Read the first message; when it is ``initialize``, start recording. Returns what the server
    reads from (the message put back) and the early start, if any."""
    raw, message = read_message(stdin)
    stream = io.BufferedReader(Replayed(raw, stdin))
    if not isinstance(message, dict) or message.get("method") != "initialize":
        return stream, None
    signals: list[int] = []
    before = {signum: signal.signal(signum, lambda received, _frame: signals.append(received)) for signum in STOPS}
    try:
        facts = opening(message.get("params"))
        log: Relay[str] = Relay()
        status: Relay[dict[str, Any]] = Relay()
        # The encoding is negotiated by the server, which sets it before any position arrives.
        recorder = Recorder(
            editor=facts.editor, roots=facts.roots, encoding=Encoding.UTF16, notify_status=status, log=log
        )
        recorder.start_if_allowed()
    except Exception:  # the server answers initialize and records as it would have
        logger.warning("cannot start the session before the server; it starts at initialized", exc_info=True)
        for stop, handler in before.items():  # with no session, a signal stops the process as before
            signal.signal(stop, handler)
        for received in signals:
            signal.raise_signal(received)
        return stream, None
    return stream, EarlyStart(recorder, log, status, facts.options, signals)


__all__ = ["EarlyStart", "Relay", "Replayed", "prestart", "read_message"]
