"""Fixtures and helpers shared by the consent, redaction and upload tests.

Import with ``from tests.privacy_support import *`` (pytest puts tests/ on sys.path); kept out of
conftest.py so that it cannot collide with the core's fixtures.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest
import zstandard

from crowdcode_sdk.clock import MachineTime
from crowdcode_sdk.config import set_value
from crowdcode_sdk.locations import Locations
from crowdcode_sdk.server import BundleStore, RunningServer, ServerConfig
from crowdcode_sdk.store import Store
from crowdcode_sdk.upload import Uploader as _Uploader
from crowdcode_sdk.upload import read_bundle
from crowdcode_sdk.upload.bundle import Limits
from tests.conftest import crowdcode_executable


@pytest.fixture
def privacy_home(locations: Locations) -> Locations:
    """The core's isolated home, set for upload tests: no hold-back, fast retries, no background
    uploader (tests drive it), consent and URL left to each test."""
    configure(
        locations,
        **{
            "privacy.hold_back_s": 0,
            "upload.retry_base_s": 0,
            "journal.flush_interval_ms": 20,
            "upload.background": False,
        },
    )
    return locations


class Uploader(_Uploader):
    """The uploader as tests run it, right after closing a session: data leaves once it is older
    than now minus the hold-back (0 in these tests), and on a quiet machine a session's end can
    still be the current millisecond when the test uploads. Each run waits until the clock has
    passed every ended session's end, as any later moment would have."""

    def run_once(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        for info in Store(self.locations).sessions():
            while info.end is not None and info.now_ms(MachineTime.now()) <= info.end:
                time.sleep(0.001)
        return super().run_once(*args, **kwargs)


def configure(locations: Locations, **values: object) -> None:
    for name, value in values.items():
        set_value(locations, name, str(value).lower() if isinstance(value, bool) else str(value))


def make_ingest(tmp_path: Path, **limits: int):  # type: ignore[no-untyped-def]
    """A real ingest server on 127.0.0.1 with a local directory store."""
    config = ServerConfig(limits=Limits(**limits)) if limits else ServerConfig()
    return RunningServer(str(tmp_path / "store"), config=config)


@contextlib.contextmanager
def consenting_ingest(tmp_path: Path, **settings: object) -> Iterator[RunningServer]:
    """A real ingest server, and the current crowdcode home set to upload to it with consent given,
    no hold-back and no background uploader (the test runs ``crowdcode upload --now``);
    ``settings`` overrides or adds config values. The server is closed on the way out."""
    server = make_ingest(tmp_path)
    try:
        defaults = {"upload.background": False, "privacy.hold_back_s": 0}
        configure(
            Locations.default(),
            **{"consent.status": "accepted", "upload.url": server.url, **defaults, **settings},
        )
        yield server
    finally:
        server.close()


@contextlib.contextmanager
def serving(
    store: Path, *args: str, stderr: int | IO[str] = subprocess.DEVNULL, preexec_fn: Callable[[], None] | None = None
) -> Iterator[tuple[str, int]]:
    """`crowdcode serve` as a maintainer runs it, a process of its own (its log to ``stderr``;
    ``preexec_fn`` run in it before it starts); yields its URL and pid, then stops it with SIGTERM
    and asserts that it exits by that signal (uvicorn re-raises it once the uploads in flight are
    drained): a server that hangs or crashes on the way out fails the test."""
    server = subprocess.Popen(
        [crowdcode_executable(), "serve", "--port", "0", "--store", str(store), *args],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        preexec_fn=preexec_fn,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert " on " in line, f"crowdcode serve did not start: {line!r}"
        yield line.split(" on ")[1].split(",")[0], server.pid
        server.terminate()
        assert server.wait(timeout=60) == -signal.SIGTERM
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


USER = "zoltanfey"
"""A user name no upload may carry: rare enough that finding it in a bundle is a leak."""


def as_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``HOME``, ``USER`` and ``LOGNAME`` of a user named :data:`USER`, whose home is under
    ``tmp_path``; returns that home, whose path must not leave either."""
    me = tmp_path / USER
    me.mkdir()
    monkeypatch.setenv("HOME", str(me))
    for variable in ("USER", "LOGNAME"):
        monkeypatch.setenv(variable, USER)
    return me


def upload_now() -> str:
    """Run the real ``crowdcode upload --now``; it must succeed without a traceback. Its stdout."""
    upload = subprocess.run([crowdcode_executable(), "upload", "--now"], capture_output=True, text=True, timeout=120)
    assert upload.returncode == 0 and "Traceback" not in upload.stderr, upload.stderr
    return upload.stdout


def uploaded_text(server) -> str:  # type: ignore[no-untyped-def]
    """Every member of every stored bundle, one byte a character, to grep."""
    return "\n".join(data.decode("latin-1") for members in bundles_in(server) for data in members.values())


def assert_nothing_leaked(everything: str, samples: list[tuple[str, str, str]], me: Path, seed: object) -> None:
    """No fragment of any secret, nor the home path or the user name, in ``everything``; a failure
    names the corpus seed, which draws the same secrets again."""
    leaks = leaked_fragments(everything, samples)
    assert not leaks, f"seed {seed}: {leaks}"
    assert str(me) not in everything and USER not in everything, f"seed {seed}"


@pytest.fixture
def ingest(tmp_path: Path) -> Iterator:
    server = make_ingest(tmp_path)
    yield server
    server.close()


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 with an empty bucket ``crowd``; yields its endpoint URL."""
    import boto3
    from moto.server import ThreadedMotoServer

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    s3.start()
    try:
        endpoint = "http://{}:{}".format(*s3.get_host_and_port())
        httpx.post(f"{endpoint}/moto-api/reset").raise_for_status()  # moto's state is per process
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="crowd")
        yield endpoint
    finally:
        s3.stop()


def bundles_in(server) -> list[dict[str, bytes]]:  # type: ignore[no-untyped-def]
    """Every stored bundle, validated again, as {member: bytes}."""
    store: BundleStore = server.store
    return [read_bundle(store.read(key)).members for key in store.bundles()]


def write_snapshot(locations: Locations, snapshot_id: str, files: dict[str, str], **fields: object) -> None:
    """Write a workspace snapshot the way the attribution engine does: zstd blobs + a manifest;
    ``fields`` adds manifest keys (``sessionId``, and ``parent``/``removed`` for a delta)."""
    import hashlib

    import orjson

    root = locations.data_dir / "snapshots"
    manifest: dict[str, str] = {}
    for relpath, text in files.items():
        data = text.encode()
        sha = hashlib.sha256(data).hexdigest()
        path = root / "blobs" / sha[:2] / sha
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(zstandard.ZstdCompressor().compress(data))
        manifest[relpath] = sha
    (root / "manifests").mkdir(parents=True, exist_ok=True)
    data = {"files": manifest, "skipped": {".env": "secret"}, "timestamp": 1, **fields}
    (root / "manifests" / f"{snapshot_id}.json").write_bytes(orjson.dumps(data))


Plan = Callable[[str, str, int], str]
"""(method, path, how many requests with this method and path so far) -> action:
``pass``, ``500``, ``drop`` (cut the connection mid-body), ``drop_response`` (let the server
finish, then cut before the client hears the answer) or ``stall`` (never answer)."""


class FaultyProxy:
    """A TCP proxy in front of the real server that injects network faults, per request."""

    def __init__(self, upstream: tuple[str, int], plan: Plan) -> None:
        self.upstream = upstream
        self.plan = plan
        self.seen: dict[tuple[str, str], int] = {}
        self.log: list[tuple[str, str, str]] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._closed = True
        self._sock.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client: socket.socket) -> None:
        with contextlib.closing(client):
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(65536)
                if not chunk:
                    return
                head += chunk
            header, _, body = head.partition(b"\r\n\r\n")
            lines = header.split(b"\r\n")
            method, target = lines[0].split(b" ")[:2]
            path = target.decode().split("?")[0]
            key = (method.decode(), path.rsplit("/", 1)[0] if method == b"PUT" else path)
            self.seen[key] = count = self.seen.get(key, 0) + 1
            action = self.plan(method.decode(), path, count)
            self.log.append((method.decode(), path, action))
            if action == "500":
                client.sendall(
                    b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
                )
                return
            if action == "stall":
                time.sleep(3)
                return
            kept = [line for line in lines if not line.lower().startswith(b"connection:")]
            request = b"\r\n".join([*kept, b"Connection: close"]) + b"\r\n\r\n" + body
            with contextlib.closing(socket.create_connection(self.upstream)) as server:
                if action == "drop":
                    server.sendall(request[: len(request) - len(body) + len(body) // 2 + 1])
                    client.recv(1024)  # take a little more of the body, then cut both ends
                    return
                server.sendall(request)
                length = _content_length(lines)
                sent = len(body)
                while sent < length:
                    chunk = client.recv(65536)
                    if not chunk:
                        return
                    server.sendall(chunk)
                    sent += len(chunk)
                response = b""
                while chunk := server.recv(65536):
                    response += chunk
                if action == "drop_response":
                    return
                client.sendall(response)


def _content_length(lines: list[bytes]) -> int:
    for line in lines:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


PUBLIC_PREFIXES = ("https://hooks.slack.com/services/", "sk-ant-api03-", "github_pat_", "sk-proj-", "sk_test_")
"""The constant start of a format is no secret: fragments are looked for in the rest."""


def private_part(secret: str) -> str:
    if secret.startswith("eyJ"):  # a JWT's header is the same for every token
        return secret.split(".", 1)[1]
    for prefix in PUBLIC_PREFIXES:
        if secret.startswith(prefix):
            return secret[len(prefix) :]
    return secret


def leaked_fragments(everything: str, samples: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """(category, secret, context) of every secret one of whose 8-character fragments (of its
    random part) is in ``everything``.

    A fragment of digits only is looked for only in a secret of digits only: eight digits of a
    Slack token's numeric fields also turn up in a millisecond timestamp now and then, and such a
    token still leaks through the fragments that hold a letter or a dash."""
    leaks = []
    for category, secret, _line in samples:
        private = private_part(secret)
        numeric = private.isdigit()
        for i in range(len(private) - 7):
            fragment = private[i : i + 8]
            if fragment.isdigit() and not numeric:
                continue
            at = everything.find(fragment)
            if at >= 0:
                leaks.append((category, secret, everything[max(0, at - 60) : at + 30]))
                break
    return leaks
