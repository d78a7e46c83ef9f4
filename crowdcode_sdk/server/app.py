"""The HTTP face of :class:`~.ingest.Ingest`: a Starlette app, served by uvicorn (``serve.py``).

Routes are thin: each admits the request (rate limits, upload slots), hands the work to
:class:`~.ingest.Ingest` on a worker thread, and answers JSON. A large upload body is never held
whole: :meth:`Api._pump` takes it chunk by chunk, with a deadline and a minimum rate, into a
private spool file (uvicorn stops reading the socket while a chunk is being written), and once it
is all in, one of a few validators checks it from the file and stores it. Every request leaves
one JSON log line (route, status, bytes, duration, reason; never a token, a signature or any
bundle content) and counts in the Prometheus metrics.
"""

from __future__ import annotations

import io
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import orjson
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from .ingest import ApiError, Ingest
from .limits import RateLimiter, UploadGate
from .metrics import Metrics

log = logging.getLogger("crowdcode.serve")

MAX_JSON_BODY = 64 * 1024
INLINE_BODY = 64 * 1024
"""Bodies up to this size are gathered whole before validation (one thread hop, not one per chunk)."""
SMALL_BODY_THREADS = 8
"""Small bodies validated and stored at once. Their worker spends about half its time in the two
fsyncs of storing (the GIL released), so a few more threads than cores keep the cores busy; each
thread costs its stack and its allocator arena, so their number is bounded, not one per upload."""

SPOOL_WRITERS = 2
"""Threads writing large bodies' chunks into their spool files. A write goes to the page cache
and takes well under a millisecond, unless the kernel makes it wait for the disk to catch up,
when more threads would only wait together; so they are bounded rather than one per upload in
flight, each thread costing its stack and its allocator arena (single runs of 20 concurrent
100 MB uploads could not tell the two apart: 0.47-0.62 MB per upload with two, 0.51 with one
per upload)."""

_T = TypeVar("_T")
Handler = Callable[[Request], Awaitable[tuple[int, dict[str, Any]]]]


class Api:
    def __init__(self, ingest: Ingest) -> None:
        self.ingest = ingest
        config = ingest.config
        self.per_ip = RateLimiter(config.requests_per_ip, _burst(config.requests_per_ip), "requests from this address")
        self.per_install = RateLimiter(
            config.requests_per_install, _burst(config.requests_per_install), "requests from this install"
        )
        self.registrations = RateLimiter(config.registrations_per_ip, 30, "registrations from this address")
        self.gate = UploadGate(config.max_uploads, config.max_uploads_per_install)
        self.workers = anyio.CapacityLimiter(config.max_uploads + 8)
        self.validators = anyio.CapacityLimiter(config.max_validating)
        self.writers = anyio.CapacityLimiter(SPOOL_WRITERS)
        self.small_bodies = anyio.CapacityLimiter(SMALL_BODY_THREADS)
        self.metrics = Metrics()
        self.app = CloseUnreadBodies(
            Starlette(
                routes=[
                    Route("/healthz", self._route("healthz", self.health, limited=False), methods=["GET"]),
                    Route("/v1/health", self._route("health", self.health, limited=False), methods=["GET"]),
                    Route("/metrics", self.exposition, methods=["GET"]),
                    Route("/v1/installs", self._route("installs", self.register), methods=["POST"]),
                    Route("/v1/uploads", self._route("uploads", self.request_upload), methods=["POST"]),
                    Route("/v1/blobs/{install_id}/{sha256}", self._route("blobs", self.receive), methods=["PUT"]),
                    Route("/v1/bundles/{sha256:path}", self._route("bundles", self.acknowledge), methods=["GET"]),
                ],
                exception_handlers={HTTPException: self._http_error},
            )
        )

    # --- endpoints --------------------------------------------------------------------------------

    async def health(self, request: Request) -> tuple[int, dict[str, Any]]:
        return 200, {"ok": True, "uploadsInFlight": self.gate.active}

    async def exposition(self, request: Request) -> Response:
        return Response(self.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    async def register(self, request: Request) -> tuple[int, dict[str, Any]]:
        self.registrations.take(_client(request))
        return 201, self.ingest.register(await self._json(request))

    async def request_upload(self, request: Request) -> tuple[int, dict[str, Any]]:
        install_id = self._authenticated(request)
        body = await self._json(request)
        return 200, await self._read_store(self.ingest.request_upload, install_id, body)

    async def acknowledge(self, request: Request) -> tuple[int, dict[str, Any]]:
        install_id = self._authenticated(request)
        sha256 = request.path_params["sha256"]
        return 200, await self._read_store(self.ingest.acknowledge, install_id, sha256)

    async def receive(self, request: Request) -> tuple[int, dict[str, Any]]:
        install_id, sha256 = request.path_params["install_id"], request.path_params["sha256"]
        if request.headers.get("transfer-encoding"):
            raise ApiError(HTTPStatus.LENGTH_REQUIRED, "chunked bodies are not accepted; send Content-Length", "length")
        size = self.ingest.check_upload(
            install_id, sha256, dict(request.query_params), request.headers.get("content-length")
        )
        self.per_install.take(install_id)
        existing = await self._read_store(self.ingest.stored, install_id, sha256)
        if existing is not None:  # a retry whose first attempt arrived: the body is not needed
            return 200, {"stored": True, **existing}
        with self.gate.hold(install_id):
            self.metrics.uploads_in_flight.inc()
            try:
                if size <= INLINE_BODY:
                    receipt = await self._whole(request, install_id, sha256, size)
                else:
                    receipt = await self._stream(request, install_id, sha256, size)
            finally:
                self.metrics.uploads_in_flight.dec()
        self.metrics.stored.inc()
        return 201, {"stored": True, **receipt}

    # --- taking a body in: whole when small, streamed to the validating worker when not ----------

    async def _whole(self, request: Request, install_id: str, sha256: str, size: int) -> dict[str, Any]:
        """A small body (most bundles) is gathered on the event loop and handed to the worker in one
        hop, which costs less than a hop per chunk; ``size`` bounds what is held. It does not wait
        for a validator but for one of ``SMALL_BODY_THREADS``: its memory is bounded already, and
        much of its worker's time is the two fsyncs of storing it, which other small uploads can
        overlap (at 100 clients, holding small bodies to two validators cost a fifth of the
        uploads/s; one thread per upload cost 20 MB of peak RSS)."""
        body = await self._gather(request, size)
        self.metrics.received_bytes.inc(len(body))
        result: dict[str, Any] = await anyio.to_thread.run_sync(
            self.ingest.receive, install_id, sha256, size, io.BytesIO(body), limiter=self.small_bodies
        )
        return result

    async def _stream(self, request: Request, install_id: str, sha256: str, size: int) -> dict[str, Any]:
        """A large body is received into its spool file as it arrives, then validated from the
        file on one of the ``--max-validating`` validators and stored. Receiving holds no
        validator, so a client sending slowly (at any legal rate) delays nobody else; a body that
        is all in waits for a validator with its socket idle, and only the page cache holds it.
        Each chunk is written on one of ``SPOOL_WRITERS`` threads: a write may wait for the disk
        to take dirty pages, which the event loop must not. uvicorn reads no more of the socket
        until the chunk is written (``protocol.py`` pauses it after each read), so an upload holds
        at most one socket read (256 KiB) of its body at a time."""
        with self.ingest.spool() as spool:

            async def write(chunk: bytes) -> None:
                await anyio.to_thread.run_sync(spool.write, chunk, limiter=self.writers)
                self.metrics.received_bytes.inc(len(chunk))

            await self._pump(request, write, size)
            async with self.validators:
                result: dict[str, Any] = await anyio.to_thread.run_sync(
                    self.ingest.receive_spooled, install_id, sha256, size, spool, limiter=self.workers
                )
        return result

    async def _pump(self, request: Request, deliver: Callable[[bytes], Awaitable[None]], size: int) -> None:
        """Pass the body to ``deliver`` as it arrives, holding it to its deadline and minimum rate.

        The rate is the client's: time spent waiting for ``deliver`` (a validator to be free, or
        to catch up) does not count against it, as the socket is not read meanwhile."""
        config = self.ingest.config
        start = time.monotonic()
        held = 0.0
        received = 0
        more = True
        while more:
            elapsed = time.monotonic() - start
            wait = min(config.idle_timeout_s, config.upload_deadline_s - elapsed)
            message = None
            with anyio.move_on_after(max(wait, 0)):
                message = await request.receive()
            if message is None:
                raise ApiError(
                    HTTPStatus.REQUEST_TIMEOUT,
                    f"body stalled or ran past its {config.upload_deadline_s:.0f} s deadline",
                    "slow",
                )
            if message["type"] == "http.disconnect":
                raise ApiError(HTTPStatus.BAD_REQUEST, "the client went away before its body ended", "disconnect")
            chunk: bytes = message.get("body", b"")
            more = message.get("more_body", False)
            received += len(chunk)
            if received > size:
                raise ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body exceeds {size} bytes", "too_large")
            elapsed = time.monotonic() - start - held
            if elapsed > config.grace_s and received < config.min_upload_rate * elapsed and more:
                raise ApiError(
                    HTTPStatus.REQUEST_TIMEOUT,
                    f"body slower than {config.min_upload_rate} bytes/s; try again on a better connection",
                    "slow",
                )
            if chunk:
                before = time.monotonic()
                await deliver(chunk)
                held += time.monotonic() - before
            del chunk, message  # not kept while uvicorn reads the next chunk: one upload holds one

    async def _gather(self, request: Request, size: int) -> bytearray:
        """A small body whole, taken in by :meth:`_pump` (so a client dribbling it is cut off)."""
        body = bytearray()

        async def keep(chunk: bytes) -> None:
            body.extend(chunk)

        await self._pump(request, keep, size)
        return body

    async def _json(self, request: Request) -> Any:
        length = request.headers.get("content-length")
        if length is None or not length.isdigit():
            raise ApiError(HTTPStatus.LENGTH_REQUIRED, "Content-Length is required", "length")
        if int(length) > MAX_JSON_BODY:
            raise ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "JSON body too large", "too_large")
        data = await self._gather(request, int(length))
        try:
            return orjson.loads(bytes(data) or b"{}")
        except orjson.JSONDecodeError:
            raise ApiError(HTTPStatus.BAD_REQUEST, "body is not JSON", "bad_request") from None

    # --- plumbing ---------------------------------------------------------------------------------

    async def _read_store(self, work: Callable[..., _T], *args: Any) -> _T:
        """Run a look-up in the store: on the event loop for a local store (a receipt is a small file
        in the page cache, cheaper to read than a thread hop), on a worker thread for a remote one."""
        if self.ingest.store.local:
            return work(*args)
        return await anyio.to_thread.run_sync(work, *args, limiter=self.workers)

    def _authenticated(self, request: Request) -> str:
        install_id = self.ingest.authenticate(request.headers.get("authorization", ""))
        self.per_install.take(install_id)
        return install_id

    def _route(self, name: str, handler: Handler, *, limited: bool = True) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            start = time.monotonic()
            reason = None
            headers: dict[str, str] = {}
            try:
                if limited:
                    self.per_ip.take(_client(request))
                status, body = await handler(request)
            except ApiError as exc:
                status, body, reason = exc.status, {"error": str(exc)}, exc.reason
                if exc.retry_after is not None:
                    headers["Retry-After"] = str(math.ceil(exc.retry_after))
            except Exception as exc:
                log.exception("internal error")
                status, body, reason = 500, {"error": f"internal error: {type(exc).__name__}"}, "internal"
            if reason is not None:
                self.metrics.rejections.labels(reason).inc()
            self.metrics.requests.labels(name, str(int(status))).inc()
            self._log(request, name, int(status), start, reason)
            return Response(orjson.dumps(body), int(status), headers, media_type="application/json")

        return endpoint

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        self.metrics.requests.labels("unknown", str(status)).inc()
        self._log(request, "unknown", status, time.monotonic(), "not_found")
        message = f"no such endpoint: {request.method} {request.url.path}"
        return Response(orjson.dumps({"error": message}), status, media_type="application/json")

    def refused_headers(self, client: str, status: int, reason: str, waited_s: float) -> None:
        """A connection the protocol cut off for headers too slow or too large (``protocol.py``)."""
        self.metrics.rejections.labels(reason).inc()
        self.metrics.requests.labels("unknown", str(status)).inc()
        _log_line("unknown", "-", status, waited_s, 0, client, reason)

    def _log(self, request: Request, route: str, status: int, start: float, reason: str | None) -> None:
        length = int(request.headers.get("content-length") or 0)
        _log_line(route, request.method, status, time.monotonic() - start, length, _client(request), reason)


def _log_line(
    route: str, method: str, status: int, seconds: float, length: int, client: str, reason: str | None
) -> None:
    if log.isEnabledFor(logging.INFO):
        record = {
            "route": route,
            "method": method,
            "status": status,
            "ms": round(seconds * 1000, 1),
            "bytes": length,
            "client": client,
            "reason": reason,
            "pid": os.getpid(),  # which worker, with --workers
        }
        log.info(orjson.dumps(record).decode())


def _burst(rate: float) -> float:
    """Ten seconds' worth, and at least ten: a client starting up makes a few requests at once."""
    return max(10, rate * 10)


def _client(request: Request) -> str:
    return request.client.host if request.client else "-"


class CloseUnreadBodies:
    """Close the connection after any answer sent before its request's body was read to the end.

    uvicorn keeps a connection alive after an answer and discards the rest of its body as it
    arrives, each arrival resetting the keep-alive timer: a chunked body that never ends, or a
    lying ``Content-Length`` to a route that reads nothing, held a connection (and a slot of the
    connection cap) for as long as the client kept dribbling. A refusal (a bad signature, a body
    too large) must not read bytes nobody wants either. So every answer that leaves a body
    unread, whatever route or error sent it, carries ``Connection: close``."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"]) if scope["type"] == "http" else {}
        unread = b"transfer-encoding" in headers or headers.get(b"content-length", b"0") != b"0"
        if not unread:  # no body (most requests): nothing to watch
            await self.app(scope, receive, send)
            return

        async def receiving() -> Message:
            nonlocal unread
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body", False):
                unread = False
            return message

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start" and unread:
                message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receiving, sending)
