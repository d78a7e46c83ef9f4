"""The ingest protocol, free of HTTP framework: tokens, signed upload URLs, validation, receipts.

The HTTP API is crowd-code's two-step upload (ask for an upload URL, then PUT the bytes) plus an
acknowledgement, with per-install tokens; docs/privacy.md documents every endpoint. The upload
URL is signed (HMAC, with an expiry), like a presigned object-store URL, so the PUT carries no
token; with ``presign`` it *is* a presigned S3 URL and the bytes never pass through the server,
which then validates the object when the client asks for its acknowledgement.

Everything here is synchronous and thread-safe; the web layer (``app.py``) runs :meth:`receive`
on a worker thread for a small body held whole, and for a large one writes the body into a
:meth:`spool` file as it arrives and then runs :meth:`receive_spooled` on a validator.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import hmac
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import IO, Any

from ..upload.bundle import Bundle, BundleError, Limits, Readable, scan_bundle
from .storage import BundleStore

INSTALL_ID = re.compile(r"[0-9a-f]{32}")
SHA256 = re.compile(r"[0-9a-f]{64}")
"""Both matched whole (``fullmatch``): with ``match``, ``$`` let a final newline through."""
UPLOAD_URL_TTL_S = 3600
STORE_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
"""Write errors that mean the store has no room (a full disk, a quota, a file size limit): the
server's condition, not the client's, which may send the same bytes again later."""
STORE_FULL_RETRY_S = 60

log = logging.getLogger("crowdcode.serve")


@dataclass(frozen=True)
class ServerConfig:
    """Every limit of one instance; ``crowdcode serve --help`` sets the common ones."""

    limits: Limits = field(default_factory=Limits)
    max_connections: int = 2000
    """Connections open at once (fewer if the process may not open that many files): past it,
    the connections that have waited longest for a request are closed to make room, and when
    every one has a request being served, new requests get 503 (``protocol.py``)."""
    max_uploads: int = 64
    """Uploads in progress at once on this instance (more: 503)."""
    max_validating: int = 2
    """Large upload bodies (over 64 KiB) validated at once (worker threads; validation holds the
    GIL, so more would not be much faster, and each costs its zstd window in memory). A large body
    is received into its spool file first, without one, so a slow client holds none; it waits for
    one only once its body is all in. Small bodies do not wait for one."""
    max_uploads_per_install: int = 2
    """Uploads in progress at once from one install (more: 429)."""
    requests_per_ip: float = 50
    """Sustained requests per second from one address (bursts of 10 s worth, at least 10; more: 429)."""
    requests_per_install: float = 10
    """Sustained authenticated requests per second from one install (bursts as above)."""
    registrations_per_ip: float = 1
    """Sustained registrations per second from one address (bursts of 30)."""
    upload_deadline_s: float = 600
    """Longest an upload body may take, however fast it trickles (408)."""
    min_upload_rate: int = 16 * 1024
    """Bytes per second an upload must average once ``grace_s`` have passed (slower: 408)."""
    grace_s: float = 10
    idle_timeout_s: float = 30
    """Longest wait for the next bytes of a body (408)."""
    header_timeout_s: float = 30
    """Longest a connection may take to send a request's line and headers, from its opening or
    the request's first byte (408 and closed; ``protocol.py``)."""
    shutdown_timeout_s: float = 60
    """How long a stopping server lets in-flight uploads finish."""
    presign: bool = False
    """Hand out presigned S3 PUT URLs instead of receiving bytes (needs an s3:// store)."""


class ApiError(Exception):
    """A refusal: the HTTP status, a message for the client, and a short reason for the metrics."""

    def __init__(self, status: HTTPStatus, message: str, reason: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.retry_after = retry_after


class Ingest:
    def __init__(self, store: BundleStore, config: ServerConfig = ServerConfig()) -> None:
        self.store = store
        self.config = config
        self.secret = store.secret()
        self.presigner = None
        if config.presign:
            from .presign import Presigner

            self.presigner = Presigner(store)

    # --- tokens and signatures --------------------------------------------------------------------

    def _mac(self, message: str) -> str:
        return hmac.new(self.secret, message.encode(), hashlib.sha256).hexdigest()

    def token_for(self, install_id: str) -> str:
        return f"{install_id}.{self._mac('install:' + install_id)[:40]}"

    def authenticate(self, authorization: str) -> str:
        """The install an ``Authorization: Bearer`` header names, or 401."""
        scheme, _, token = authorization.partition(" ")
        install_id, _, _mac = token.strip().partition(".")
        valid = scheme.lower() == "bearer" and INSTALL_ID.fullmatch(install_id)
        if valid and hmac.compare_digest(self.token_for(install_id), token.strip()):
            return install_id
        raise ApiError(HTTPStatus.UNAUTHORIZED, "missing or invalid install token (POST /v1/installs)", "auth")

    def _upload_url(self, install_id: str, sha256: str, size: int) -> dict[str, Any]:
        if self.presigner is not None:
            return self.presigner.upload(self.store.bundle_key(install_id, sha256), sha256, size, UPLOAD_URL_TTL_S)
        expires = int(time.time()) + UPLOAD_URL_TTL_S
        sig = self._mac(f"put:{install_id}:{sha256}:{size}:{expires}")
        return {"uploadUrl": f"/v1/blobs/{install_id}/{sha256}?size={size}&expires={expires}&sig={sig}"}

    # --- the endpoints' logic ---------------------------------------------------------------------

    def register(self, body: Any) -> dict[str, Any]:
        install_id = body.get("installId") if isinstance(body, dict) else None
        if not isinstance(install_id, str) or not INSTALL_ID.fullmatch(install_id):
            raise ApiError(HTTPStatus.BAD_REQUEST, "installId must be 32 lowercase hex digits", "bad_request")
        return {"installId": install_id, "token": self.token_for(install_id)}

    def request_upload(self, install_id: str, body: Any) -> dict[str, Any]:
        body = body if isinstance(body, dict) else {}
        sha256, size = body.get("sha256"), body.get("size")
        check_sha256(sha256)
        if type(size) is not int or size <= 0:
            raise ApiError(HTTPStatus.BAD_REQUEST, "size must be a positive integer", "bad_request")
        if size > self.config.limits.max_bytes:
            raise ApiError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"bundle of {size} bytes exceeds the limit of {self.config.limits.max_bytes}",
                "too_large",
            )
        receipt = self.store.receipt(install_id, sha256)
        if receipt is not None:
            return {"stored": True, **receipt}
        return {"stored": False, **self._upload_url(install_id, sha256, size)}

    def check_upload(self, install_id: str, sha256: str, query: dict[str, str], content_length: str | None) -> int:
        """Check a PUT before reading its body: the URL's signature and the announced length."""
        if not INSTALL_ID.fullmatch(install_id) or not SHA256.fullmatch(sha256) or self.presigner is not None:
            raise ApiError(HTTPStatus.NOT_FOUND, "no such upload URL", "not_found")
        try:
            size, expires, sig = int(query["size"]), int(query["expires"]), query["sig"]
        except (KeyError, ValueError):
            raise ApiError(HTTPStatus.FORBIDDEN, "upload URL is not signed", "signature") from None
        if not hmac.compare_digest(self._mac(f"put:{install_id}:{sha256}:{size}:{expires}"), sig):
            raise ApiError(HTTPStatus.FORBIDDEN, "upload URL signature is invalid", "signature")
        if expires < time.time():
            raise ApiError(HTTPStatus.FORBIDDEN, "upload URL has expired; ask for a new one", "signature")
        if content_length is None:
            raise ApiError(HTTPStatus.LENGTH_REQUIRED, "Content-Length is required (no chunked bodies)", "length")
        if content_length != str(size):
            raise ApiError(HTTPStatus.BAD_REQUEST, f"announced {size} bytes, sending {content_length}", "length")
        return size

    def receive(self, install_id: str, sha256: str, size: int, body: Readable) -> dict[str, Any]:
        """Validate a small body as it is read from ``body`` and copied to its spool file, then
        store it; the receipt, or an ApiError (a store without room: :meth:`room`)."""
        with self.room(), self.store.spool() as spool:
            return self._keep(install_id, sha256, size, spool, _Tee(body, spool))

    def receive_spooled(self, install_id: str, sha256: str, size: int, spool: IO[bytes]) -> dict[str, Any]:
        """Validate a body already received whole into ``spool`` (from :meth:`spool`), reading it
        back from the start, then store it; the receipt, or an ApiError."""
        spool.flush()
        spool.seek(0)
        with self.room():
            return self._keep(install_id, sha256, size, spool, spool)

    @contextlib.contextmanager
    def spool(self) -> Iterator[IO[bytes]]:
        """A private spool file for a body to be received into before it is validated; removed
        on the way out, whatever happened. Creating and writing it may raise :meth:`room`'s 507."""
        with self.room(), self.store.spool() as spool:
            yield spool

    @contextlib.contextmanager
    def room(self) -> Iterator[None]:
        """Turn a store without room into ``507`` with ``Retry-After`` (the uploader keeps the
        bundle and tries again): the spool file goes with the failed write, and a bundle renamed
        into place before its receipt failed is only written again by the retry."""
        try:
            yield
        except OSError as exc:
            if exc.errno not in STORE_FULL:
                raise
            log.error("the store has no room for a bundle: %s", exc.strerror)
            raise ApiError(
                HTTPStatus.INSUFFICIENT_STORAGE,
                "the server has no room to store this bundle now; try again later",
                "store_full",
                STORE_FULL_RETRY_S,
            ) from None

    def _keep(self, install_id: str, sha256: str, size: int, spool: IO[bytes], source: Readable) -> dict[str, Any]:
        """Validate what ``source`` reads (the bytes that are, or end up, in ``spool``) and store
        the spool file under its hash, unless a retry stored it first."""
        bundle = self._validate(install_id, sha256, source)
        if bundle.size != size:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"announced {size} bytes, received {bundle.size}", "length")
        existing = self.store.receipt(install_id, sha256)
        if existing is not None:  # a retry whose first attempt arrived: nothing to do twice
            return existing
        return self.store.put(install_id, sha256, spool, bundle.manifest, bundle.events)

    def acknowledge(self, install_id: str, sha256: str) -> dict[str, Any]:
        check_sha256(sha256)
        receipt = self.store.receipt(install_id, sha256)
        if receipt is None and self.presigner is not None:
            receipt = self._check_presigned(install_id, sha256)
        if receipt is None:
            raise ApiError(HTTPStatus.NOT_FOUND, f"no bundle {sha256} stored for this install", "not_found")
        return receipt

    def stored(self, install_id: str, sha256: str) -> dict[str, Any] | None:
        return self.store.receipt(install_id, sha256)

    # --- validation -------------------------------------------------------------------------------

    def _validate(self, install_id: str, sha256: str, source: Readable) -> Bundle:
        try:
            bundle = scan_bundle(source, self.config.limits, expected_sha256=sha256)
        except BundleError as exc:
            raise ApiError(HTTPStatus.UNPROCESSABLE_ENTITY, f"bundle rejected: {exc}", "invalid_bundle") from None
        if bundle.manifest.get("installId") != install_id:
            raise ApiError(
                HTTPStatus.UNPROCESSABLE_ENTITY,
                "bundle rejected: manifest installId is not this install's",
                "invalid_bundle",
            )
        return bundle

    def _check_presigned(self, install_id: str, sha256: str) -> dict[str, Any] | None:
        """A presigned PUT went straight to S3: validate the object before acknowledging it, and
        delete it if it is not a valid bundle of this install."""
        key = self.store.bundle_key(install_id, sha256)
        if not self.store.exists(key):
            return None
        try:
            with self.store.open(key) as f:
                bundle = self._validate(install_id, sha256, f)
        except ApiError:
            self.store.remove(key)
            raise
        return self.store.commit(install_id, sha256, bundle.size, bundle.manifest, bundle.events)


def check_sha256(value: object) -> str:
    if not isinstance(value, str) or not SHA256.fullmatch(value):
        raise ApiError(HTTPStatus.BAD_REQUEST, "sha256 must be 64 lowercase hex digits", "bad_request")
    return value


class _Tee:
    """Reads from the body and copies what it read into the spool file."""

    def __init__(self, source: Readable, copy: IO[bytes]) -> None:
        self.source = source
        self.copy = copy

    def read(self, size: int = -1) -> bytes:
        chunk = self.source.read(size)
        self.copy.write(chunk)
        return chunk
