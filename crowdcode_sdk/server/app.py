"""``crowdcode serve``: the ingest server that dataset maintainers run.

The HTTP API is crowd-code's two-step upload (ask for an upload URL, then PUT the bytes) plus an
acknowledgement, with per-install tokens; docs/privacy.md documents every endpoint. The upload
URL is signed (HMAC, with an expiry), like a presigned object-store URL, so the PUT carries no
token and a deployment could hand out real presigned S3 URLs instead.

stdlib ``ThreadingHTTPServer`` is enough here: bundles are bounded (64 MiB by default), requests
are few and long, and it adds no dependency to a package every user installs; see
docs/architecture.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..upload.bundle import BundleError, Limits, read_bundle
from .storage import BundleStore

log = logging.getLogger("crowdcode.serve")

INSTALL_ID = re.compile(r"^[0-9a-f]{32}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
UPLOAD_URL_TTL_S = 3600
MAX_JSON_BODY = 64 * 1024


@dataclass(frozen=True)
class ServerConfig:
    limits: Limits = field(default_factory=Limits)
    request_timeout_s: float = 120


class ApiError(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


class IngestServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    server_address: tuple[str, int]  # an AF_INET socket's name: the host is always a str

    def __init__(self, address: tuple[str, int], store: BundleStore, config: ServerConfig = ServerConfig()) -> None:
        self.store = store
        self.config = config
        self.secret = store.secret()
        super().__init__(address, Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    # --- tokens and signatures --------------------------------------------------------------------

    def _mac(self, message: str) -> str:
        return hmac.new(self.secret, message.encode(), hashlib.sha256).hexdigest()

    def token_for(self, install_id: str) -> str:
        return f"{install_id}.{self._mac('install:' + install_id)[:40]}"

    def install_of(self, token: str) -> str | None:
        install_id, _, _mac = token.partition(".")
        if INSTALL_ID.match(install_id) and hmac.compare_digest(self.token_for(install_id), token):
            return install_id
        return None

    def upload_path(self, install_id: str, sha256: str, size: int) -> str:
        expires = int(time.time()) + UPLOAD_URL_TTL_S
        sig = self._mac(f"put:{install_id}:{sha256}:{size}:{expires}")
        return f"/v1/blobs/{install_id}/{sha256}?size={size}&expires={expires}&sig={sig}"

    def check_upload_signature(self, install_id: str, sha256: str, query: dict[str, list[str]]) -> int:
        try:
            size, expires, sig = int(query["size"][0]), int(query["expires"][0]), query["sig"][0]
        except (KeyError, ValueError, IndexError):
            raise ApiError(HTTPStatus.FORBIDDEN, "upload URL is not signed") from None
        expected = self._mac(f"put:{install_id}:{sha256}:{size}:{expires}")
        if not hmac.compare_digest(expected, sig):
            raise ApiError(HTTPStatus.FORBIDDEN, "upload URL signature is invalid")
        if expires < time.time():
            raise ApiError(HTTPStatus.FORBIDDEN, "upload URL has expired; ask for a new one")
        return size


class Handler(BaseHTTPRequestHandler):
    server: IngestServer
    protocol_version = "HTTP/1.1"
    server_version = "crowdcode-ingest"

    def setup(self) -> None:
        # typeshed calls timeout a ClassVar, but StreamRequestHandler.setup reads it per instance
        self.timeout = self.server.config.request_timeout_s  # type: ignore[misc]
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        # Never log query strings: they hold upload signatures.
        log.info("%s %s", self.address_string(), (format % args).split("?")[0])

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.info("%s %s %s %s", self.address_string(), self.command, urlsplit(self.path).path, code)

    # --- dispatch ---------------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        try:
            route = (self.command, *parts)
            if route == ("GET", "v1", "health"):
                self._reply(HTTPStatus.OK, {"ok": True})
            elif route == ("POST", "v1", "installs"):
                self._register()
            elif route == ("POST", "v1", "uploads"):
                self._request_upload()
            elif self.command == "PUT" and len(parts) == 4 and parts[:2] == ["v1", "blobs"]:
                self._receive(parts[2], parts[3], parse_qs(url.query))
            elif self.command == "GET" and len(parts) == 3 and parts[:2] == ["v1", "bundles"]:
                self._acknowledge(parts[2])
            else:
                raise ApiError(HTTPStatus.NOT_FOUND, f"no such endpoint: {self.command} {url.path}")
        except ApiError as exc:
            self._discard_body()
            self._reply(exc.status, {"error": str(exc)})
        except Exception as exc:
            log.exception("internal error")
            self.close_connection = True
            self._reply(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"internal error: {type(exc).__name__}"})

    # --- endpoints --------------------------------------------------------------------------------

    def _register(self) -> None:
        install_id = self._json().get("installId")
        if not isinstance(install_id, str) or not INSTALL_ID.match(install_id):
            raise ApiError(HTTPStatus.BAD_REQUEST, "installId must be 32 lowercase hex digits")
        self._reply(HTTPStatus.CREATED, {"installId": install_id, "token": self.server.token_for(install_id)})

    def _request_upload(self) -> None:
        install_id = self._authenticated()
        body = self._json()
        sha256, size = body.get("sha256"), body.get("size")
        if not isinstance(sha256, str) or not SHA256.match(sha256):
            raise ApiError(HTTPStatus.BAD_REQUEST, "sha256 must be 64 lowercase hex digits")
        if type(size) is not int or size <= 0:
            raise ApiError(HTTPStatus.BAD_REQUEST, "size must be a positive integer")
        if size > self.server.config.limits.max_bytes:
            raise ApiError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"bundle of {size} bytes exceeds the limit of {self.server.config.limits.max_bytes}",
            )
        receipt = self.server.store.receipt(install_id, sha256)
        if receipt is not None:
            self._reply(HTTPStatus.OK, {"stored": True, **receipt})
            return
        self._reply(HTTPStatus.OK, {"stored": False, "uploadUrl": self.server.upload_path(install_id, sha256, size)})

    def _receive(self, install_id: str, sha256: str, query: dict[str, list[str]]) -> None:
        if not INSTALL_ID.match(install_id) or not SHA256.match(sha256):
            raise ApiError(HTTPStatus.NOT_FOUND, "no such upload URL")
        size = self.server.check_upload_signature(install_id, sha256, query)
        length = self._content_length()
        if length != size:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"announced {size} bytes, sending {length}")
        data = self._read_exactly(length)
        existing = self.server.store.receipt(install_id, sha256)
        if existing is not None:  # a retry whose first attempt arrived: nothing to do twice
            self._reply(HTTPStatus.OK, {"stored": True, **existing})
            return
        try:
            bundle = read_bundle(data, self.server.config.limits, expected_sha256=sha256)
        except BundleError as exc:
            raise ApiError(HTTPStatus.UNPROCESSABLE_ENTITY, f"bundle rejected: {exc}") from None
        if bundle.manifest.get("installId") != install_id:
            raise ApiError(HTTPStatus.UNPROCESSABLE_ENTITY, "bundle rejected: manifest installId is not this install's")
        receipt = self.server.store.put(install_id, sha256, data, bundle.manifest, bundle.events)
        self._reply(HTTPStatus.CREATED, {"stored": True, **receipt})

    def _acknowledge(self, sha256: str) -> None:
        install_id = self._authenticated()
        if not SHA256.match(sha256):
            raise ApiError(HTTPStatus.BAD_REQUEST, "sha256 must be 64 lowercase hex digits")
        receipt = self.server.store.receipt(install_id, sha256)
        if receipt is None:
            raise ApiError(HTTPStatus.NOT_FOUND, f"no bundle {sha256} stored for this install")
        self._reply(HTTPStatus.OK, receipt)

    # --- plumbing ---------------------------------------------------------------------------------

    def _authenticated(self) -> str:
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        install_id = self.server.install_of(token.strip()) if scheme.lower() == "bearer" else None
        if install_id is None:
            raise ApiError(HTTPStatus.UNAUTHORIZED, "missing or invalid install token (POST /v1/installs)")
        return install_id

    def _content_length(self) -> int:
        if self.headers.get("Transfer-Encoding"):
            raise ApiError(HTTPStatus.LENGTH_REQUIRED, "chunked bodies are not accepted; send Content-Length")
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise ApiError(HTTPStatus.LENGTH_REQUIRED, "Content-Length is required") from None
        if length < 0:
            raise ApiError(HTTPStatus.BAD_REQUEST, "negative Content-Length")
        if length > self.server.config.limits.max_bytes:
            raise ApiError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body exceeds {self.server.config.limits.max_bytes} bytes"
            )
        return length

    def _read_exactly(self, length: int) -> bytes:
        chunks, remaining = [], length
        while remaining:
            chunk = self.rfile.read(min(remaining, 1 << 20))
            if not chunk:
                self.close_connection = True
                raise ApiError(HTTPStatus.BAD_REQUEST, f"connection ended {remaining} bytes early")
            chunks.append(chunk)
            remaining -= len(chunk)
        self._body_read = True
        return b"".join(chunks)

    def _json(self) -> dict[str, Any]:
        length = self._content_length()
        if length > MAX_JSON_BODY:
            raise ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "JSON body too large")
        try:
            value = json.loads(self._read_exactly(length) or b"{}")
        except ValueError:
            raise ApiError(HTTPStatus.BAD_REQUEST, "body is not JSON") from None
        if not isinstance(value, dict):
            raise ApiError(HTTPStatus.BAD_REQUEST, "body must be a JSON object")
        return value

    def _discard_body(self) -> None:
        """After an error, do not read an unread (maybe huge) body: close the connection instead."""
        if not getattr(self, "_body_read", False) and self.headers.get("Content-Length", "0") not in ("", "0"):
            self.close_connection = True

    def _reply(self, status: HTTPStatus, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)


def serve_in_thread(store_url: str, host: str = "127.0.0.1", port: int = 0, config: ServerConfig = ServerConfig()):
    """Start a server on a background thread (for tests and embedding); returns it, ``.url`` set."""
    server = IngestServer((host, port), BundleStore(store_url), config)
    threading.Thread(target=server.serve_forever, name="crowdcode-ingest", daemon=True).start()
    return server
