"""uvicorn's HTTP protocol with a deadline on reading a request's headers.

uvicorn bounds the idle time between requests (``timeout_keep_alive``) but not the time a client
takes to send a request line and headers once it has started, nor a connection that opens and
sends nothing: a client trickling a header byte every few seconds holds its connection (and a
slot of ``limit_concurrency``) forever. This subclass arms a timer when a connection opens and
when each request begins, disarms it when the headers are complete, and on expiry answers
``408`` with ``Connection: close`` (or just closes, if a response is being written) and drops
the connection. Bodies have their own limits in the app (``idle_timeout_s``, the minimum rate,
the deadline).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MESSAGE = b'{"error": "request headers not received in time"}'
RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: application/json\r\n"
    b"connection: close\r\n"
    b"content-length: " + str(len(MESSAGE)).encode() + b"\r\n\r\n" + MESSAGE
)


class HeaderDeadlineProtocol(HttpToolsProtocol):
    header_timeout_s: float = 10.0
    """Set per server by :func:`with_header_deadline`, as is ``on_timeout``."""
    on_timeout: Callable[[str, float], None] = staticmethod(lambda client, waited_s: None)

    _header_timer: asyncio.TimerHandle | None = None
    _header_started = 0.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_header_deadline()

    def on_headers_complete(self) -> None:
        self._disarm_header_deadline()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def _arm_header_deadline(self) -> None:
        if self._header_timer is None:
            self._header_started = time.monotonic()
            self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _disarm_header_deadline(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:  # nothing else is being written
            self.transport.write(RESPONSE)
        self.transport.close()
        self.on_timeout(self.client[0] if self.client else "-", time.monotonic() - self._header_started)


def with_header_deadline(seconds: float, on_timeout: Callable[[str, float], None]) -> type[HeaderDeadlineProtocol]:
    """The protocol class for one server (uvicorn makes one per connection); ``on_timeout(client,
    waited_s)`` is told of each connection cut off, for the logs and metrics."""
    attributes = {"header_timeout_s": seconds, "on_timeout": staticmethod(on_timeout)}
    return type("HeaderDeadlineProtocol", (HeaderDeadlineProtocol,), attributes)
