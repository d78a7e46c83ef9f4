"""Running the app under uvicorn: in the foreground (``crowdcode serve``) or on a thread (tests,
benchmarks, embedding).

The listening socket is bound here, before uvicorn starts, so that a bad port or an address in
use is one clear error, and ``--port 0`` can print the port it got. uvicorn stops gracefully on
SIGINT/SIGTERM: it stops accepting, lets in-flight requests (uploads) finish for up to
``shutdown_timeout_s``, then exits.
"""

from __future__ import annotations

import contextlib
import resource
import socket
import threading
from typing import Any

import uvicorn

from ..errors import CrowdcodeError
from .app import Api
from .ingest import Ingest, ServerConfig
from .protocol import with_header_deadline
from .storage import BundleStore

BACKLOG = 2048
DEFAULTS = ServerConfig()
RESERVED_FILES = 256
"""File descriptors kept for other than connections: the store's and spool files, the event loop,
the worker threads."""


def bind(host: str, port: int, count: int = 1) -> list[socket.socket]:
    """``count`` listening sockets on one port: one per worker process (``SO_REUSEPORT`` when more
    than one, so the kernel spreads connections over them); the first decides a ``--port 0``."""
    if not 0 <= port <= 65535:
        raise CrowdcodeError(f"cannot serve: port {port} is not between 0 and 65535")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets: list[socket.socket] = []
    try:
        while len(sockets) < count:
            sockets.append(socket.create_server((host, port), family=family, backlog=BACKLOG, reuse_port=count > 1))
            port = sockets[0].getsockname()[1]
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise CrowdcodeError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None
    return sockets


def connection_cap(wanted: int) -> int:
    """``wanted`` connections, or as many as this process may open files for besides
    ``RESERVED_FILES``. Past the cap uvicorn answers ``503`` (and the protocol closes the
    connections waiting longest, ``protocol.py``); past the file limit it could not accept at
    all, and clients were dropped unanswered. The soft limit (often 1024, for ``select()``'s sake)
    is raised towards the hard one first, as nginx's ``worker_rlimit_nofile`` does."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = wanted + RESERVED_FILES
    if soft != resource.RLIM_INFINITY and soft < needed:
        raised = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, soft - RESERVED_FILES))


def uvicorn_server(ingest: Ingest, forwarded_allow_ips: str | None = None) -> uvicorn.Server:
    api = Api(ingest)
    config = uvicorn.Config(
        api.app,
        http=with_header_deadline(ingest.config.header_timeout_s, api.refused_headers),
        lifespan="off",
        log_config=None,
        access_log=False,  # the app logs each request itself, without query strings
        backlog=BACKLOG,
        limit_concurrency=connection_cap(ingest.config.max_connections),
        timeout_keep_alive=15,
        timeout_graceful_shutdown=round(ingest.config.shutdown_timeout_s),
        proxy_headers=forwarded_allow_ips is not None,
        forwarded_allow_ips=forwarded_allow_ips,
        server_header=False,
    )
    return uvicorn.Server(config)


class RunningServer:
    """An ingest server on a background thread; ``url`` and ``store`` are set, ``close()`` stops it
    (gracefully, like SIGTERM does)."""

    def __init__(
        self,
        store: str | BundleStore,
        host: str = "127.0.0.1",
        port: int = 0,
        config: ServerConfig = DEFAULTS,
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        self.store = store if isinstance(store, BundleStore) else BundleStore(store, storage_options)
        self.ingest = Ingest(self.store, config)
        (self.socket,) = bind(host, port)
        self.server_address: tuple[str, int] = self.socket.getsockname()[:2]
        self.server = uvicorn_server(self.ingest)
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, name="crowdcode-ingest", daemon=True
        )
        self._thread.start()
        while not self.server.started and self._thread.is_alive():
            self._thread.join(0.01)
        if not self.server.started:
            raise CrowdcodeError("the ingest server did not start")

    @property
    def url(self) -> str:
        host, port = self.server_address
        return f"http://{host}:{port}"

    def close(self) -> None:
        self.server.should_exit = True
        self._thread.join()
        self.socket.close()
