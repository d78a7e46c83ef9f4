"""The client side of the ingest protocol (see docs/privacy.md, "Server API").

1. ``POST /v1/installs {"installId"}`` once → a per-install token (kept in the data directory);
2. ``POST /v1/uploads {"sha256", "size"}`` → ``{"uploadUrl"}`` (or ``{"stored": true}`` when
   the server already has these exact bytes: a retry after a lost answer);
3. ``PUT <uploadUrl>`` with the bytes (and any ``uploadHeaders``: a presigned S3 URL names the
   SHA-256 checksum header it was signed with);
4. ``GET /v1/bundles/<sha256>`` → the acknowledgement, which must name the same hash and size.

Only step 4 counts: whatever happened to the PUT's answer (timeout, dropped connection), the
client asks, and deletes local data only when the server confirms the exact hash.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import httpx
import orjson

from ..errors import CrowdcodeError
from ..locations import write_private_atomic

CHUNK = 256 * 1024


class UploadError(CrowdcodeError):
    """An upload failed; ``retry`` says whether trying again later can help."""

    def __init__(self, message: str, *, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry


@dataclass(frozen=True)
class Receipt:
    sha256: str
    size: int
    stored_at: int | None


Progress = Callable[[int], object]
"""Called with each count of bytes sent; what it returns is ignored (tqdm's ``update`` fits)."""


class IngestClient:
    def __init__(self, base_url: str, install_id: str, token_file: Path, timeout_s: float = 60) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.install_id = install_id
        self.token_file = token_file
        self._http = httpx.Client(timeout=httpx.Timeout(timeout_s), follow_redirects=False)

    def close(self) -> None:
        self._http.close()

    def upload(self, path: Path, sha256: str, size: int, progress: Progress | None = None) -> Receipt:
        """Send one bundle file and return the server's acknowledgement of exactly these bytes."""
        answer = self._call("POST", "v1/uploads", json={"sha256": sha256, "size": size})
        if not answer.get("stored"):
            url = answer.get("uploadUrl")
            if not isinstance(url, str):
                raise UploadError("server answered without an uploadUrl", retry=True)
            try:
                headers = answer.get("uploadHeaders")
                extra = {str(k): str(v) for k, v in headers.items()} if isinstance(headers, dict) else {}
                self._put(urljoin(self.base_url, url), path, size, progress, extra)
            except UploadError as failed:
                if not failed.retry:
                    raise
                try:  # the bytes may have arrived although the answer did not
                    return self.acknowledgement(sha256, size)
                except UploadError:
                    raise failed from None
        elif progress:
            progress(size)
        return self.acknowledgement(sha256, size)

    def acknowledgement(self, sha256: str, size: int) -> Receipt:
        receipt = self._call("GET", f"v1/bundles/{sha256}")
        if receipt.get("sha256") != sha256 or receipt.get("size") != size:
            raise UploadError(f"server acknowledged {receipt.get('sha256')!r}, not {sha256}", retry=True)
        return Receipt(sha256, size, receipt.get("storedAt"))

    # --- plumbing ---------------------------------------------------------------------------------

    def _put(self, url: str, path: Path, size: int, progress: Progress | None, extra: dict[str, str]) -> None:
        def chunks() -> Iterator[bytes]:
            with open(path, "rb") as f:
                while chunk := f.read(CHUNK):
                    yield chunk
                    if progress:
                        progress(len(chunk))

        headers = {"Content-Type": "application/zstd", "Content-Length": str(size), **extra}
        try:
            response = self._http.put(url, content=chunks(), headers=headers)
        except httpx.HTTPError as exc:
            raise UploadError(f"upload interrupted: {_describe(exc)}", retry=True) from None
        self._check(response)

    def _call(self, method: str, path: str, json: dict | None = None, *, auth: bool = True) -> dict:
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {self._token()}"} if auth else {}
            url = urljoin(self.base_url, path)
            try:
                response = self._http.request(method, url, json=json, headers=headers)
            except httpx.HTTPError as exc:
                # The whole URL (no token or signature is in it): upload.url is what to check.
                raise UploadError(f"{method} {url}: {_describe(exc)}", retry=True) from None
            if response.status_code == 401 and auth and attempt == 1:
                self._forget_token()  # the server lost or rotated its secret: register again
                continue
            return self._check(response)
        raise AssertionError("unreachable")

    def _check(self, response: httpx.Response) -> dict:
        try:
            body = response.json() if response.content else {}
        except ValueError:
            body = {}
        if response.is_success:
            return body if isinstance(body, dict) else {}
        message = body.get("error") if isinstance(body, dict) else None
        message = f"server said {response.status_code}: {message or response.reason_phrase}"
        # 4xx other than timeouts/throttling means the request itself is wrong: retrying cannot help.
        retry = response.status_code >= 500 or response.status_code in (401, 404, 408, 409, 425, 429)
        raise UploadError(message, retry=retry)

    def _token(self) -> str:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            tokens = orjson.loads(self.token_file.read_bytes())
            return tokens[self.base_url]
        answer = self._call("POST", "v1/installs", json={"installId": self.install_id}, auth=False)
        token = answer.get("token")
        if not isinstance(token, str):
            raise UploadError("server registered this install without a token", retry=True)
        tokens = {}
        with contextlib.suppress(OSError, ValueError):
            tokens = orjson.loads(self.token_file.read_bytes())
        write_private_atomic(self.token_file, orjson.dumps({**tokens, self.base_url: token}))
        return token

    def _forget_token(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            tokens = orjson.loads(self.token_file.read_bytes())
            tokens.pop(self.base_url, None)
            write_private_atomic(self.token_file, orjson.dumps(tokens))


def _describe(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        return "cannot connect to the server"
    return str(exc) or type(exc).__name__
