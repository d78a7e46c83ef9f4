"""uvicorn's HTTP protocol with a deadline and a size cap on reading a request's headers.

uvicorn bounds the idle time between requests (``timeout_keep_alive``) but not the time a client
takes to send a request line and headers once it has started, nor a connection that opens and
sends nothing: a client trickling a header byte every few seconds holds its connection (and a
slot of ``limit_concurrency``) forever. This subclass arms a timer when a connection opens (for
``SILENT_FACTOR`` deadlines) and again at each request's first byte (for one), disarms it when
the headers are complete, and on expiry answers
``408`` with ``Connection: close`` (or just closes, if a response is being written) and drops
the connection. Bodies have their own limits in the app (``idle_timeout_s``, the minimum rate,
the deadline).

uvicorn answers ``503`` to every request once ``limit_concurrency`` connections are open, and a
connection that only waits (silent since it opened, idle between requests, or still sending its
headers) counts as much as one being served: a client holding the cap's worth of silent
connections, renewed as the deadlines cut them, locked every other client out. uvicorn also
accepts connections past its cap, until the process runs out of file descriptors, and then
libuv accepts and drops each new one unanswered. So when a connection opens past the cap, or a
request's headers are in at the cap, the connections that have waited longest for a request of
their own are closed to make room (as nginx reuses idle keep-alive connections when it runs
out): open connections stay within the cap, and it is full only of connections with a request
being served, whose number the app bounds (upload slots, rates, body deadlines).

uvicorn's httptools protocol also buffers headers without a size limit (its h11 one has one):
a request whose line and headers pass ``MAX_HEADER_BYTES`` before they end gets ``431`` and is
closed, so no more than that plus one socket read (256 KiB) is held for them: the bytes of
every read after the one the request began in are counted as they arrive (so that requests
pipelined in one read are not taken for one request's headers), and the line and headers
themselves as they are parsed, which catches headers that arrive whole in one read.

uvicorn parses a whole socket read before it stops reading a connection that pipelines, and
queues every request in it with its own state: a read of thousands of small requests whose
answers were never read held megabytes per connection. Past ``MAX_PIPELINED`` queued requests
the rest of the connection is dropped unparsed, and the last queued answer closes it.

Under heavy load the event loop itself can fall behind: the timer may fire while a client's
headers sit unread in the kernel. Before cutting a connection off, the protocol asks the kernel
(``FIONREAD``) whether bytes are waiting; if so it waits a little more (at most a second
deadline), so that a loaded server does not blame its clients for its own delay.
"""

from __future__ import annotations

import array
import asyncio
import fcntl
import termios
import time
from collections.abc import Callable
from typing import ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEADER_BYTES = 64 * 1024
"""Most bytes of request line and headers buffered for one request (nginx allows 4 x 8 KiB)."""


EAGER_BODY_BYTES = 64 * 1024
"""uvicorn reads a body ahead of the app, up to 64 KiB plus one socket read (256 KiB); a body
larger than this is not read before the app asks for it, and then one socket read at a time,
each when the app asks for the next: a body the route refuses unread (a bad signature, a full
instance, a bundle already stored) costs only the bytes that came with its headers, and one being
received holds at most one read while the app writes the one before to its spool file (reading
on to 64 KiB plus a read meanwhile cost 0.67 MB per concurrent upload rather than 0.51)."""

SILENT_FACTOR = 2
"""A new connection gets this many header deadlines to send its first byte: a client's connect
and its first write are apart when the client is short of CPU, and the cost to the server of a
silent connection is a file descriptor."""
LINGER_S = 2.0
"""How long a refused connection's remaining bytes are read and dropped before it is closed."""
MAX_PIPELINED = 16
"""Requests a connection may have queued behind the one being served."""


def _response(status: bytes, message: str) -> bytes:
    body = b'{"error": "' + message.encode() + b'"}'
    head = b"HTTP/1.1 " + status + b"\r\ncontent-type: application/json\r\nconnection: close\r\n"
    return head + b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body


TOO_SLOW = _response(b"408 Request Timeout", "request headers not received in time")
TOO_LARGE = _response(b"431 Request Header Fields Too Large", f"request headers over {MAX_HEADER_BYTES} bytes")


class HeaderDeadlineProtocol(HttpToolsProtocol):
    header_timeout_s: float = 30.0
    """Set per server by :func:`with_header_deadline`, as is ``on_refused``."""
    on_refused: Callable[[str, int, str, float], None] = staticmethod(lambda client, status, reason, waited_s: None)

    _header_timer: asyncio.TimerHandle | None = None
    _header_started = 0.0
    _header_bytes = 0
    _header_factor = 1
    _refused = False
    _began_in_read = False
    _parsed_header_bytes = 0
    _large_body = False
    waiting: ClassVar[dict[HeaderDeadlineProtocol, float]] = {}
    """This server's connections with no request being served, longest waiting first, with the
    time each began to wait (a dict per server, set by :func:`with_header_deadline`)."""

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # lingering after a refusal, or past the pipelining limit: read and drop
        self._began_in_read = False
        super().data_received(data)
        if self._header_timer is not None and not self._began_in_read:  # all these bytes are headers
            self._header_bytes += len(data)
            if self._header_bytes > MAX_HEADER_BYTES:
                self._cut_off(TOO_LARGE, "large_headers")

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._make_room(0)
        self.waiting[self] = time.monotonic()
        self._arm_header_deadline(SILENT_FACTOR)

    def on_message_begin(self) -> None:
        if self._refused:
            return
        self._began_in_read = True
        self._parsed_header_bytes = 0
        super().on_message_begin()
        if self._header_factor != 1:  # the first byte: from now on, the headers' own deadline
            self._disarm_header_deadline()
        self._arm_header_deadline()

    def on_url(self, url: bytes) -> None:
        if not self._refused:
            self._parsed_header_bytes += len(url)
            super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._refused:
            self._parsed_header_bytes += len(name) + len(value) + 4  # ": " and CRLF
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        self._disarm_header_deadline()
        self._header_bytes = 0
        if self._parsed_header_bytes > MAX_HEADER_BYTES:
            self._cut_off(TOO_LARGE, "large_headers")
            return
        if len(self.pipeline) >= MAX_PIPELINED:
            self._refused = True  # what follows in this read and after it is dropped
            self.pipeline[0][0].keep_alive = False  # the last queued answer closes the connection
            client = self.client[0] if self.client else "-"
            self.on_refused(client, 429, "pipelined", 0.0)
            return
        self.waiting.pop(self, None)
        self._make_room(1)  # uvicorn counts this connection against the cap too
        super().on_headers_complete()
        self._large_body = _content_length(self.headers) > EAGER_BODY_BYTES
        if self._large_body:
            self.flow.pause_reading()  # the app's first receive() resumes it (and so does its answer)

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)
            if self._large_body:
                self.flow.pause_reading()  # one read at a time: the app's next receive() resumes it

    def on_message_complete(self) -> None:
        if not self._refused:
            super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.cycle.response_complete:  # no pipelined request began
            self.waiting[self] = time.monotonic()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        self.waiting.pop(self, None)
        super().connection_lost(exc)

    def _make_room(self, spare: int) -> None:
        """Close the connections that have waited longest for a request until ``spare`` more fit
        under the connection cap (or none waits)."""
        limit = self.limit_concurrency
        while limit is not None and len(self.connections) + spare > limit and self.waiting:
            victim = next(iter(self.waiting))
            since = self.waiting.pop(victim)
            self.connections.discard(victim)  # uvicorn discards it again when it is gone
            victim._disarm_header_deadline()
            victim.transport.close()
            client = victim.client[0] if victim.client else "-"
            self.on_refused(client, 503, "idle_shed", time.monotonic() - since)

    def _arm_header_deadline(self, factor: int = 1) -> None:
        if self._header_timer is None:
            self._header_started = time.monotonic()
            self._header_factor = factor
            self._header_timer = self.loop.call_later(self.header_timeout_s * factor, self._headers_too_slow)

    def _disarm_header_deadline(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        """The deadline passed. If bytes wait unread in the socket, the server is the slow one (an
        event loop behind under load): look again a little later, up to twice the deadline."""
        self._header_timer = None
        waited = time.monotonic() - self._header_started
        if _unread_bytes(self.transport) and waited < 2 * self.header_timeout_s * self._header_factor:
            self._header_timer = self.loop.call_later(self.header_timeout_s / 4, self._headers_too_slow)
            return
        self._cut_off(TOO_SLOW, "slow_headers")

    def _cut_off(self, response: bytes, reason: str) -> None:
        """Answer, then close as nginx does ("lingering close"): stop sending, drop what still
        arrives for a moment, then close. Closing at once with unread bytes would make the kernel
        reset the connection, and the client could lose the answer. A request pipelined behind
        one being answered gets no answer of its own: the one being written ends the connection."""
        self._disarm_header_deadline()
        if self.transport.is_closing() or self._refused:
            return
        self._refused = True
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False
        else:
            self.transport.write(response)
            if self.transport.can_write_eof():
                self.transport.write_eof()
            self.loop.call_later(LINGER_S, self.transport.close)
        client = self.client[0] if self.client else "-"
        self.on_refused(client, int(response[9:12]), reason, time.monotonic() - self._header_started)


def _content_length(headers: list[tuple[bytes, bytes]]) -> int:
    for name, value in headers:
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0


def _unread_bytes(transport: asyncio.BaseTransport) -> int:
    """Bytes the kernel holds for this connection that the event loop has not read yet."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return 0
    count = array.array("i", [0])
    try:
        fcntl.ioctl(sock.fileno(), termios.FIONREAD, count)
    except OSError:
        return 0
    return count[0]


def with_header_deadline(
    seconds: float, on_refused: Callable[[str, int, str, float], None]
) -> type[HeaderDeadlineProtocol]:
    """The protocol class for one server (uvicorn makes one per connection); ``on_refused(client,
    status, reason, waited_s)`` is told of each connection cut off, for the logs and metrics."""
    attributes = {"header_timeout_s": seconds, "on_refused": staticmethod(on_refused), "waiting": {}}
    return type("HeaderDeadlineProtocol", (HeaderDeadlineProtocol,), attributes)
