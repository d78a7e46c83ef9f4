"""The ingest server under attack and under a crowd: real uvicorn servers on 127.0.0.1, real
sockets, real `crowdcode serve` processes."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import signal
import socket
import stat
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import zstandard

from crowdcode_sdk.cli.serve_cmd import KILL_AFTER_SHUTDOWN_S
from crowdcode_sdk.server import RunningServer, ServerConfig
from crowdcode_sdk.upload.bundle import BundleWriter, Limits
from tests.conftest import crowdcode_executable
from tests.privacy_support import serving

SESSION = "1" * 32
EVENT = b'{"sequence":%d,"timestamp":5,"type":"action","action":{"kind":"focus_change","focused":true}}\n'


def bundle(install_id: str, n: int = 1, level: int = 3) -> bytes:
    writer = BundleWriter(install_id=install_id, sdk_version="test")
    writer.add(f"sessions/{SESSION}/events-{n:06d}.jsonl", b"".join(EVENT % i for i in range(1, n + 1)))
    return writer.build(level)


def install(i: int) -> str:
    return f"{i:032x}"


class Client:
    """One contributor speaking the protocol by hand, so each step's answer can be checked."""

    def __init__(self, url: str, install_id: str) -> None:
        self.url = url
        self.install_id = install_id
        self.http = httpx.Client(base_url=url, timeout=60)
        answer = self.http.post("/v1/installs", json={"installId": install_id})
        assert answer.status_code == 201, answer.text
        self.token = answer.json()["token"]
        self.http.headers["Authorization"] = f"Bearer {self.token}"

    def upload_url(self, data: bytes) -> str:
        body = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        answer = self._again_on_a_closed_connection("POST", "/v1/uploads", json=body)
        assert answer.status_code == 200, answer.text
        return str(answer.json()["uploadUrl"])

    def put(self, data: bytes, url: str | None = None, base: str | None = None) -> httpx.Response:
        return httpx.put((base or self.url) + (url or self.upload_url(data)), content=data, timeout=60)

    def ack(self, data: bytes) -> httpx.Response:
        return self._again_on_a_closed_connection("GET", f"/v1/bundles/{hashlib.sha256(data).hexdigest()}")

    def _again_on_a_closed_connection(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send an idempotent request, and once more on a new connection if the kept-alive one it
        went out on was closed by the server meanwhile (its 15 s idle limit, reached by a thread
        starved on a loaded machine): the request meets the close as a reset or as no answer. HTTP
        clients retry such a request once; httpx leaves that to its caller."""
        try:
            return self.http.request(method, url, **kwargs)
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
            return self.http.request(method, url, **kwargs)


@pytest.fixture
def serve(tmp_path: Path):  # type: ignore[no-untyped-def]
    servers: list[RunningServer] = []

    def start(store: Path | None = None, **settings: object) -> RunningServer:
        server = RunningServer(str(store or tmp_path / "store"), config=replace(ServerConfig(), **settings))
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def raw_request(server: RunningServer, head: str, body: bytes = b"") -> socket.socket:
    sock = socket.create_connection(server.server_address)
    sock.sendall(head.encode() + b"\r\n\r\n" + body)
    return sock


def read_response(sock: socket.socket, timeout: float = 30) -> bytes:
    """Everything the server sends until it closes the connection (it must)."""
    sock.settimeout(timeout)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    sock.close()
    return data


def in_flight(server: RunningServer) -> int:
    return int(httpx.get(server.url + "/healthz").json()["uploadsInFlight"])


def wait_for(condition, what: str, timeout: float = 20) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


# --- the attacks, each with its answer ------------------------------------------------------------


def test_trailing_bytes_and_appended_frames_are_refused(serve) -> None:  # type: ignore[no-untyped-def]
    server = serve()
    client = Client(server.url, install(1))
    good = bundle(install(1))
    for evil, why in [
        (good + os.urandom(4096), "follow the bundle's zstd frame"),
        (good + zstandard.ZstdCompressor().compress(b"\0" * 1024), "follow the bundle's zstd frame"),
        (good + zstandard.ZstdCompressor().compress(b""), "follow the bundle's zstd frame"),
    ]:
        response = client.put(evil)
        assert response.status_code == 422 and why in response.json()["error"], response.text
        assert client.ack(evil).status_code == 404
    assert client.put(good).status_code == 201
    assert len(server.store.bundles()) == 1


def test_bombs_stop_before_decompressing(serve) -> None:  # type: ignore[no-untyped-def]
    server = serve(limits=Limits(max_uncompressed_bytes=1 << 20, max_entries=50))
    client = Client(server.url, install(1))
    # a few KB that would expand to 64 MiB: refused from the frame header, before any output
    bomb = zstandard.ZstdCompressor(level=19).compress(b"\0" * (64 << 20))
    response = client.put(bomb)
    assert response.status_code == 422 and "expands beyond" in response.json()["error"], response.text
    unknown = zstandard.ZstdCompressor(write_content_size=False).compress(b"\0" * 1000)
    assert "does not declare its content size" in client.put(unknown).json()["error"]
    # a tar of many empty members: refused at the entry limit
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for i in range(60):
            tar.addfile(tarfile.TarInfo(f"snapshots/blobs/{i:064x}"), io.BytesIO(b""))
    entries = client.put(zstandard.ZstdCompressor().compress(raw.getvalue()))
    assert entries.status_code == 422, entries.text
    assert not server.store.bundles()


def test_size_and_length_lies(serve) -> None:  # type: ignore[no-untyped-def]
    server = serve(limits=Limits(max_bytes=4096))
    client = Client(server.url, install(1))
    data = bundle(install(1))
    too_big = client.http.post("/v1/uploads", json={"sha256": "a" * 64, "size": 5000})
    assert too_big.status_code == 413
    url = client.upload_url(data)
    shorter = raw_request(
        server, f"PUT {url} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {len(data) - 1}", data[:-1]
    )
    assert read_response(shorter).startswith(b"HTTP/1.1 400 ")
    chunked = raw_request(
        server,
        f"PUT {url} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked",
        b"5\r\nhello\r\n0\r\n\r\n",
    )
    assert read_response(chunked).startswith(b"HTTP/1.1 411 ")
    assert client.put(data, url).status_code == 201


def test_bad_hashes_get_clear_refusals_and_store_nothing(serve) -> None:  # type: ignore[no-untyped-def]
    server = serve()
    client = Client(server.url, install(1))
    for sha in ("A" * 64, "a" * 63, "g" * 64, 42, None):
        answer = client.http.post("/v1/uploads", json={"sha256": sha, "size": 10})
        assert answer.status_code == 400 and "sha256 must be 64 lowercase hex digits" in answer.json()["error"], sha
    assert client.http.get(f"/v1/bundles/{'A' * 64}").status_code == 400
    small = bundle(install(1), 3)
    writer = BundleWriter(install_id=install(1), sdk_version="test")
    writer.add(f"snapshots/blobs/{'c' * 64}", os.urandom(256 * 1024))  # over 64 KiB: streamed to a validator
    writer.add(f"sessions/{SESSION}/events-000001.jsonl", EVENT % 1)
    large = writer.build(level=1)
    for data in (small, large):
        other = "b" * 64  # a URL signed for another hash of the same size: the bytes do not match it
        url = client.http.post("/v1/uploads", json={"sha256": other, "size": len(data)}).json()["uploadUrl"]
        refused = client.put(data, url)
        assert refused.status_code == 422 and "hash mismatch" in refused.json()["error"], refused.text
        forged = url.replace(other, hashlib.sha256(data).hexdigest())  # the path changed, not its signature
        assert client.put(data, forged).status_code == 403
        assert server.store.bundles() == []
    assert client.put(large).status_code == 201
    assert len(server.store.bundles()) == 1


def test_registration_and_request_rates_are_limited(serve) -> None:  # type: ignore[no-untyped-def]
    server = serve(registrations_per_ip=0.01, requests_per_ip=1000)
    answers = [httpx.post(server.url + "/v1/installs", json={"installId": install(i)}).status_code for i in range(40)]
    assert answers[:30] == [201] * 30 and set(answers[30:]) == {429}  # a burst of 30, then refused
    refused = httpx.post(server.url + "/v1/installs", json={"installId": install(99)})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 1
    token = httpx.post(server.url + "/v1/installs", json={"installId": install(1)})
    assert token.status_code == 429  # even for an id registered before: no token farming
    limited = serve(store=Path(server.store.root), requests_per_install=0.01)
    client = Client(limited.url, install(1))
    statuses = [client.ack(b"x").status_code for _ in range(13)]
    assert statuses[:10] == [404] * 10 and statuses[10:] == [429] * 3  # a burst of 10 for this install
    per_ip = serve(store=Path(server.store.root), requests_per_ip=0.01)
    health = [httpx.post(per_ip.url + "/v1/uploads", json={}).status_code for _ in range(12)]
    assert health[:10] == [401] * 10 and health[10:] == [429, 429]


@pytest.mark.parametrize("blob", [0, 300_000], ids=["gathered", "spooled"])
def test_slow_bodies_are_cut_off(serve, blob: int) -> None:  # type: ignore[no-untyped-def]
    """Whether a body is gathered whole (up to 64 KiB) or received into its spool file."""
    server = serve(grace_s=0.5, min_upload_rate=1000, idle_timeout_s=1)
    client = Client(server.url, install(1))
    writer = BundleWriter(install_id=install(1), sdk_version="test")
    writer.add(f"sessions/{SESSION}/events-000001.jsonl", b"".join(EVENT % i for i in range(1, 201)))
    if blob:
        writer.add(f"snapshots/blobs/{'c' * 64}", os.urandom(blob))
    data = writer.build(3)
    url = client.upload_url(data)
    # slow-loris: a byte at a time, forever
    loris = raw_request(server, f"PUT {url} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(data)}", data[:10])
    answer = b""
    loris.settimeout(0.2)
    for byte in data[10:]:
        try:
            loris.sendall(bytes([byte]))
            answer = loris.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            break
        if answer:
            break
    assert answer.startswith(b"HTTP/1.1 408 ") and b"slower than 1000 bytes/s" in answer, answer
    assert b"connection: close" in answer.lower()
    # silence after the headers
    quiet = raw_request(server, f"PUT {url} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(data)}", data[:10])
    started = time.monotonic()
    answer = read_response(quiet)
    assert answer.startswith(b"HTTP/1.1 408 ") and b"stalled" in answer and time.monotonic() - started < 10
    wait_for(lambda: in_flight(server) == 0, "the slots of cut-off uploads to be released")
    assert client.put(data, url).status_code == 201


def test_slow_headers_are_cut_off_while_others_are_served(serve) -> None:  # type: ignore[no-untyped-def]
    server = serve(header_timeout_s=1.5)
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 200 + b"\r\n\r\n"
    started = time.monotonic()  # the server's deadline starts once it accepts: later than this
    loris = socket.create_connection(server.server_address)
    silent = socket.create_connection(server.server_address)  # connects and never says a word
    served = []
    answer = b""
    with httpx.Client(base_url=server.url) as good:
        loris.settimeout(0.25)
        sent = 0
        for byte in head:  # a byte every 0.25 s: the headers would take a minute
            try:
                loris.sendall(bytes([byte]))
                sent += 1
                answer = loris.recv(65536)
            except TimeoutError:
                served.append(good.get("/healthz").status_code)  # a good client, meanwhile
                continue
            except OSError:
                break
            if answer:
                break
        cut_after = time.monotonic() - started
        assert good.get("/healthz").status_code == 200
    assert answer.startswith(b"HTTP/1.1 408 ") and b"request headers not received in time" in answer, answer
    assert b"connection: close" in answer.lower()
    assert cut_after >= 1.5 and sent < len(head) // 2, (cut_after, sent)  # cut off long before the end
    assert read_response(loris) == b""  # and the connection is closed
    assert read_response(silent, timeout=10).startswith(b"HTTP/1.1 408 ")
    assert served and set(served) == {200}  # served while the loris held its connection
    # a keep-alive client idle between requests for longer than the deadline is not cut off
    with httpx.Client(base_url=server.url) as patient:
        assert patient.get("/healthz").status_code == 200
        time.sleep(2)
        assert patient.get("/healthz").status_code == 200
    metrics = httpx.get(server.url + "/metrics").text
    assert 'crowdcode_rejections_total{reason="slow_headers"} 2.0' in metrics


def test_an_attacker_on_loopback_gets_clear_refusals(serve) -> None:  # type: ignore[no-untyped-def]
    server = serve(requests_per_ip=1000)
    client = Client(server.url, install(1))
    data = bundle(install(1), 3)
    url = client.upload_url(data)
    # odd methods: 405 on a known path, 400 for a method HTTP does not have; none reaches a handler
    for method in ("DELETE", "PATCH", "OPTIONS", "TRACE"):
        assert httpx.request(method, server.url + url).status_code == 405, method
    assert read_response(raw_request(server, f"BREW {url} HTTP/1.1\r\nHost: x")).startswith(b"HTTP/1.1 400 ")
    # huge headers: refused while they arrive, before they are all buffered
    huge = raw_request(server, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + "a" * (1 << 20) + "\r\nX: y")
    assert read_response(huge).startswith(b"HTTP/1.1 431 ")
    many = "\r\n".join(f"X-{i}: {'b' * 100}" for i in range(2000))
    assert read_response(raw_request(server, f"GET /healthz HTTP/1.1\r\nHost: x\r\n{many}")).startswith(
        b"HTTP/1.1 431 "
    )
    # chunked encoding abuse: smuggling with both headers, bad chunk sizes, chunked JSON
    both = raw_request(
        server,
        f"PUT {url} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(data)}\r\nTransfer-Encoding: chunked",
        b"0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    assert read_response(both).startswith(b"HTTP/1.1 400 ")
    bad_size = raw_request(server, f"PUT {url} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked", b"zz\r\n")
    assert read_response(bad_size).split(b" ")[1] in (b"400", b"411")
    chunked_json = raw_request(
        server,
        f"POST /v1/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {client.token}\r\nTransfer-Encoding: chunked",
        b"2\r\n{}\r\n0\r\n\r\n",
    )
    assert read_response(chunked_json).startswith(b"HTTP/1.1 411 ")
    # path traversal in ids, raw and encoded: no route takes them
    for path in (
        f"/v1/blobs/..%2F..%2Fetc/{'a' * 64}",
        f"/v1/blobs/{install(1)}/..%2F{'a' * 61}",
        "/v1/bundles/..%2F..%2F_server%2Fsecret",
        f"/v1/bundles/{'a' * 64}%00.json",
    ):
        answer = client.http.request("PUT" if "blobs" in path else "GET", path)
        assert answer.status_code in (400, 404) and "secret" not in answer.text, (path, answer.text)
    # token brute force: every wrong token 401, then the address is slowed down
    brute = serve(store=Path(server.store.root), requests_per_ip=0.01)
    guesses = [
        httpx.get(f"{brute.url}/v1/bundles/{'a' * 64}", headers={"Authorization": f"Bearer {install(1)}.{i:040x}"})
        for i in range(15)
    ]
    assert [g.status_code for g in guesses] == [401] * 10 + [429] * 5  # a burst of 10, then slowed down
    # an install registered twice gets the same token; another install's token does not open it
    again = httpx.post(server.url + "/v1/installs", json={"installId": install(1)}).json()["token"]
    assert again == client.token
    other = Client(server.url, install(2))
    stolen = httpx.post(
        server.url + "/v1/uploads",
        json={"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)},
        headers={"Authorization": f"Bearer {install(1)}.{other.token.split('.')[1]}"},
    )
    assert stolen.status_code == 401
    # the same bundle sent twice at once on one URL: one copy, both answered, same receipt
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: client.put(data, url), range(2)))
    assert sorted(a.status_code for a in answers) in ([200, 201], [201, 201]), [a.text for a in answers]
    assert server.store.bundles() == [server.store.bundle_key(install(1), hashlib.sha256(data).hexdigest())]
    assert client.ack(data).json()["sha256"] == hashlib.sha256(data).hexdigest()
    assert httpx.get(server.url + "/healthz").status_code == 200  # still serving


def test_concurrent_uploads_are_capped_in_total_and_per_install(serve) -> None:  # type: ignore[no-untyped-def]
    server = serve(max_uploads=2, max_uploads_per_install=1)
    one, two, three = (Client(server.url, install(i)) for i in (1, 2, 3))
    data = {c: bundle(c.install_id, 50) for c in (one, two, three)}
    urls = {c: c.upload_url(data[c]) for c in (one, two, three)}

    def hold(c: Client) -> socket.socket:  # an upload in progress: headers and half the body
        d = data[c]
        head = f"PUT {urls[c]} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {len(d)}"
        return raw_request(server, head, d[: len(d) // 2])

    first = hold(one)
    wait_for(lambda: in_flight(server) == 1, "the first upload to start")
    again = one.put(data[one], urls[one])
    assert again.status_code == 429 and "already has 1 uploads in progress" in again.json()["error"]
    second = hold(two)
    wait_for(lambda: in_flight(server) == 2, "the second upload to start")
    busy = three.put(data[three], urls[three])
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
    first.sendall(data[one][len(data[one]) // 2 :])
    assert read_response(first).startswith(b"HTTP/1.1 201 ")  # the upload held open completes
    second.close()  # a client that gives up frees its slot
    wait_for(lambda: in_flight(server) == 0, "both slots to be free")
    assert three.put(data[three], urls[three]).status_code == 201
    assert one.ack(data[one]).status_code == 200 and two.ack(data[two]).status_code == 404


def test_stored_files_are_private(serve, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server = serve()
    client = Client(server.url, install(1))
    data = bundle(install(1))
    assert client.put(data).status_code == 201
    store = tmp_path / "store"
    files = [p for p in store.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"secret", f"{hashlib.sha256(data).hexdigest()}.tar.zst"}
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files), [(p, oct(p.stat().st_mode)) for p in files]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o700 for p in store.rglob("*") if p.is_dir())
    assert not list((store / "_incoming").iterdir())  # no spool file left behind


def test_health_metrics_and_logs_without_secrets(serve, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    server = serve()
    caplog.set_level(logging.INFO, logger="crowdcode.serve")
    client = Client(server.url, install(1))
    data = bundle(install(1))
    url = client.upload_url(data)
    assert client.put(data, url).status_code == 201
    assert client.put(data + b"x").status_code == 422
    assert httpx.get(server.url + "/healthz").json() == {"ok": True, "uploadsInFlight": 0}
    metrics = httpx.get(server.url + "/metrics").text
    assert 'crowdcode_rejections_total{reason="invalid_bundle"} 1.0' in metrics
    assert 'crowdcode_requests_total{route="blobs",status="201"} 1.0' in metrics
    assert "crowdcode_stored_bundles_total 1.0" in metrics
    assert f"crowdcode_received_bytes_total {2 * len(data) + 1}.0" in metrics
    lines = [r.getMessage() for r in caplog.records if r.name == "crowdcode.serve"]
    assert any('"route":"blobs","method":"PUT","status":201' in line for line in lines), lines
    secrets_ = [client.token, client.token.split(".")[1], url.split("sig=")[1], install(1)]
    assert not [line for line in lines for s in secrets_ if s in line]


# --- ordinary use at scale --------------------------------------------------------------------------


def test_a_crowd_of_100_clients_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    store = tmp_path / "store"
    limits = ["--requests-per-ip", "1e6", "--registrations-per-ip", "1e3", "--max-uploads", "200"]
    with serving(store, *limits) as (url, _pid):  # its own process: the clients here do not slow it down
        bundles = {install(i): [bundle(install(i), n) for n in range(1, 21)] for i in range(100)}

        def contributor(install_id: str) -> list[str]:
            client = Client(url, install_id)
            acked = []
            for data in bundles[install_id]:
                upload = client.upload_url(data)
                assert client.put(data, upload).status_code == 201
                answer = client.ack(data)
                assert answer.status_code == 200, answer.text
                receipt = answer.json()
                assert receipt["size"] == len(data)
                acked.append(receipt["sha256"])
            client.http.close()
            return acked

        with ThreadPoolExecutor(100) as pool:
            acked = [sha for shas in pool.map(contributor, bundles) for sha in shas]  # any reset raises here
    expected = {hashlib.sha256(d).hexdigest() for ds in bundles.values() for d in ds}
    assert len(acked) == 2000 and set(acked) == expected
    stored = list((store / "bundles").rglob("*.tar.zst"))
    assert len(stored) == 2000 and {p.name.split(".")[0] for p in stored} == expected


MEMORY_BOUND_MB = 120
"""Peak RSS of a server receiving 20 bundles of 100 MB at once (docs/privacy.md, "Streaming")."""
PER_UPLOAD_BOUND_MB = 1.0
"""What each upload in flight may add to the peak beyond the first (docs/privacy.md, "Streaming").
Every upload is received at once, into its spool file, each holding at most one socket read
(256 KiB, and uvloop's bytes of it while it is parsed) and its request's state: measured
0.47-0.62 MB. (It was 0.5 MB, measured 0.34-0.36, when all but two uploads waited with their
bytes unread in the kernel, which let two slow clients hold up every other large upload.)"""


def test_memory_stays_bounded_under_20_concurrent_100_mb_uploads(tmp_path: Path) -> None:
    blob = os.urandom(100 << 20)
    paths = []
    for i in range(21):  # one install's distinct bundles, written to disk: the test holds none whole
        writer = BundleWriter(install_id=install(1), sdk_version="test")
        writer.add(f"snapshots/blobs/{hashlib.sha256(blob).hexdigest()}", blob)
        writer.add(f"sessions/{i:032x}/events-000001.jsonl", EVENT % 1)
        path = tmp_path / f"bundle-{i}.tar.zst"
        path.write_bytes(writer.build(level=1))
        paths.append(path)
    del blob, writer
    limits = ["--max-bundle-mb", "128", "--max-uploads-per-install", "20", "--requests-per-install", "1e6"]
    with serving(tmp_path / "store", *limits) as (url, pid):
        client = Client(url, install(1))
        sizes_and_urls = []
        for path in paths:
            digest = hashlib.sha256()
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
            size = path.stat().st_size
            answer = client.http.post("/v1/uploads", json={"sha256": digest.hexdigest(), "size": size})
            sizes_and_urls.append((path, size, answer.json()["uploadUrl"]))

        def send(item: tuple[Path, int, str]) -> int:
            path, size, upload = item

            def chunks() -> Iterator[bytes]:
                with open(path, "rb") as f:
                    while chunk := f.read(1 << 20):
                        yield chunk

            headers = {"Content-Length": str(size)}
            return httpx.put(url + upload, content=chunks(), headers=headers, timeout=600).status_code

        def peak_mb() -> float:
            status = Path(f"/proc/{pid}/status").read_text()
            return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]) / 1024

        assert send(sizes_and_urls[0]) == 201  # one alone: the peak of a server with an upload in flight
        alone = peak_mb()
        with ThreadPoolExecutor(20) as pool:
            assert list(pool.map(send, sizes_and_urls[1:])) == [201] * 20
        crowd = peak_mb()
    assert len(list((tmp_path / "store" / "bundles").rglob("*.tar.zst"))) == 21
    assert crowd < MEMORY_BOUND_MB, f"peak RSS {crowd:.0f} MB for 2 GB in flight"
    per_upload = (crowd - alone) / 19
    assert per_upload < PER_UPLOAD_BOUND_MB, f"{per_upload:.2f} MB per upload in flight ({alone:.0f} -> {crowd:.0f} MB)"


def test_two_instances_share_only_the_store(serve, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = tmp_path / "shared"
    a, b = serve(store), serve(store)
    client = Client(a.url, install(1))
    data = bundle(install(1), 5)
    url = client.upload_url(data)  # signed by a ...
    assert client.put(data, url, base=b.url).status_code == 201  # ... received by b
    for server in (a, b):  # acknowledged by either, with b's token too
        other = httpx.get(f"{server.url}/v1/bundles/{hashlib.sha256(data).hexdigest()}", headers=client.http.headers)
        assert other.json()["sha256"] == hashlib.sha256(data).hexdigest()
    # the same new bundle raced to both instances at once: stored once, acknowledged by both
    twice = bundle(install(1), 300)
    url = client.upload_url(twice)
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda s: client.put(twice, url, base=s.url).status_code, (a, b)))
    assert sorted(answers) in ([200, 201], [201, 201]), answers
    assert len(a.store.bundles()) == 2 == len(b.store.bundles())
    assert a.store.read(a.store.bundle_key(install(1), hashlib.sha256(twice).hexdigest())) == twice


def test_workers_share_one_port_and_stop_together(tmp_path: Path) -> None:
    store, log = tmp_path / "store", tmp_path / "serve.log"
    with open(log, "w") as stderr:
        server = subprocess.Popen(
            [crowdcode_executable(), "serve", "--port", "0", "--store", str(store), "--workers", "2"],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().split(" on ")[1].split(",")[0]
        workers = [int(p) for p in Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()]
        assert len(workers) == 2
        datas = [bundle(install(i), 3) for i in range(40)]

        def contributor(i: int) -> str:
            client = Client(url, install(i))  # its own connection: the kernel picks a worker for it
            assert client.put(datas[i]).status_code == 201
            receipt = client.ack(datas[i]).json()
            client.http.close()
            return str(receipt["sha256"])

        with ThreadPoolExecutor(8) as pool:
            acked = list(pool.map(contributor, range(40)))
        assert acked == [hashlib.sha256(d).hexdigest() for d in datas]
        server.terminate()
        assert server.wait(timeout=60) == -signal.SIGTERM
        for pid in workers:
            assert not Path(f"/proc/{pid}").exists()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    served_by = {json.loads(line)["pid"] for line in log.read_text().splitlines() if line.startswith("{")}
    assert served_by == set(workers)  # both served
    assert len(list((store / "bundles").rglob("*.tar.zst"))) == 40


@contextlib.contextmanager
def serving_workers(tmp_path: Path, *extra: str) -> Iterator[subprocess.Popen[str]]:
    """`crowdcode serve --workers 2` as a process, killed at the end if a test left it running."""
    server = subprocess.Popen(
        [crowdcode_executable(), "serve", "--port", "0", "--store", str(tmp_path / "s"), "--workers", "2", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield server
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def workers_of(server: subprocess.Popen[str], *, serving: bool) -> list[int]:
    """The server's worker pids: once both serve (uvicorn has taken over their signals), or as
    soon as both are forked."""
    if serving:
        assert server.stderr is not None
        started: list[int] = []
        while len(started) < 2 and (line := server.stderr.readline()):
            if line.startswith("Started server process ["):
                started.append(int(line.split("[")[1].split("]")[0]))
        return started
    workers: list[int] = []
    while len(workers) < 2 and server.poll() is None:
        workers = [int(p) for p in Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()]
    return workers


def test_a_worker_that_dies_stops_the_server_in_one_line(tmp_path: Path) -> None:
    with serving_workers(tmp_path) as server:
        workers = workers_of(server, serving=True)
        os.kill(workers[0], signal.SIGKILL)
        assert server.wait(timeout=60) == 1
        assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
        assert server.stderr is not None
        lines = [line for line in server.stderr.read().splitlines() if not line.startswith("{")]
        assert f"crowdcode serve: worker {workers[0]} exited (killed by SIGKILL); stopping" in lines


@pytest.mark.parametrize("attempt", range(3))
@pytest.mark.parametrize(
    "victim, sig, code", [("server", signal.SIGTERM, -signal.SIGTERM), ("worker", signal.SIGKILL, 1)]
)
def test_a_signal_while_workers_start_stops_them_all(
    tmp_path: Path, victim: str, sig: signal.Signals, code: int, attempt: int
) -> None:
    """A worker that got SIGTERM before its first instruction once ran the parent's inherited
    handler, swallowed the signal and served on while the parent waited for it."""
    with serving_workers(tmp_path) as server:
        workers = workers_of(server, serving=False)
        os.kill(server.pid if victim == "server" else workers[0], sig)
        assert server.wait(timeout=60) == code
        assert not any(Path(f"/proc/{pid}").exists() for pid in workers)


def test_a_worker_that_does_not_stop_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    with serving_workers(tmp_path, "--shutdown-timeout-s", "1") as server:
        workers = workers_of(server, serving=True)
        # a stopped process keeps SIGTERM pending (a worker still starting, with SIGTERM's default
        # action, would be killed by it at once, stopped or not: hence "serving" above)
        os.kill(workers[1], signal.SIGSTOP)
        started = time.monotonic()
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == -signal.SIGTERM
        grace = 1 + KILL_AFTER_SHUTDOWN_S
        assert time.monotonic() - started >= grace - 0.5
        assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
        assert server.stderr is not None
        lines = server.stderr.read().splitlines()
        assert f"crowdcode serve: workers {workers[1]} still running {grace:g} s after SIGTERM; killing them" in lines


def test_presigned_uploads_to_s3(s3_endpoint: str) -> None:
    options = {"client_kwargs": {"endpoint_url": s3_endpoint}}
    server = RunningServer("s3://crowd/ingest", config=ServerConfig(presign=True), storage_options=options)
    try:
        client = Client(server.url, install(1))
        data = bundle(install(1), 3)
        sha = hashlib.sha256(data).hexdigest()
        answer = client.http.post("/v1/uploads", json={"sha256": sha, "size": len(data)}).json()
        assert answer["uploadUrl"].startswith(s3_endpoint + "/crowd/ingest/bundles/")
        headers = answer["uploadHeaders"]
        assert client.ack(data).status_code == 404  # nothing there yet
        # S3 refuses other bytes than the URL was signed for: it signs the length and checksum ...
        assert "X-Amz-SignedHeaders=content-length%3Bhost%3Bx-amz-checksum-sha256" in answer["uploadUrl"]
        # ... but moto does not enforce that, so the server's own check is what is under test here:
        other = bundle(install(1), 4)[: len(data)].ljust(len(data), b"\0")
        assert httpx.put(answer["uploadUrl"], content=other, headers=headers).status_code == 200
        swapped = client.ack(data)
        assert swapped.status_code == 422 and "hash mismatch" in swapped.json()["error"]
        assert not server.store.exists(server.store.bundle_key(install(1), sha))  # deleted, never acknowledged
        assert httpx.put(answer["uploadUrl"], content=data, headers=headers).status_code == 200
        receipt = client.ack(data).json()  # the server read the object back and validated it
        assert receipt["sha256"] == sha and receipt["size"] == len(data) and receipt["events"] == 3
        assert client.http.post("/v1/uploads", json={"sha256": sha, "size": len(data)}).json()["stored"] is True
        # the bytes never pass through the server: its PUT endpoint is closed
        assert (
            httpx.put(f"{server.url}/v1/blobs/{install(1)}/{sha}?size=1&expires=1&sig=0", content=b"x").status_code
            == 404
        )
        # a valid signature over bytes that are not a bundle: the acknowledgement refuses and deletes
        junk = b"not a bundle at all"
        junk_sha = hashlib.sha256(junk).hexdigest()
        signed = client.http.post("/v1/uploads", json={"sha256": junk_sha, "size": len(junk)}).json()
        assert httpx.put(signed["uploadUrl"], content=junk, headers=signed["uploadHeaders"]).status_code == 200
        refused = client.ack(junk)
        assert refused.status_code == 422 and "bundle rejected" in refused.json()["error"]
        assert not server.store.exists(server.store.bundle_key(install(1), junk_sha))
        assert len(server.store.bundles()) == 1
    finally:
        server.close()


# --- the command ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "99999"], "port 99999 is not between 0 and 65535"),
        (["--max-validating", "0"], "--max-validating 0 is not at least 1"),
    ],
)
def test_serve_refuses_bad_ports_in_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    result = subprocess.run(
        [crowdcode_executable(), "serve", "--store", str(tmp_path / "s"), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and result.stderr.strip().splitlines() == [
        f"crowdcode: error: cannot serve: {message}"
    ]
    busy = socket.create_server(("127.0.0.1", 0))
    port = busy.getsockname()[1]
    result = subprocess.run(
        [crowdcode_executable(), "serve", "--store", str(tmp_path / "s"), "--port", str(port)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    busy.close()
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1 and "address already in use" in lines[0].lower(), lines


def test_serve_without_the_server_extra_says_so(tmp_path: Path) -> None:
    blocked = "import sys; sys.modules['starlette'] = None; from crowdcode_sdk.cli.main import main; sys.exit(main(sys.argv[1:]))"
    result = subprocess.run(
        [sys.executable, "-c", blocked, "serve", "--store", str(tmp_path / "s")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        f"crowdcode: error: crowdcode serve needs starlette, from the 'server' extra: "
        f"{sys.executable} -m pip install 'crowdcode[server]'"
    ]
    status = subprocess.run([sys.executable, "-c", blocked, "--help"], capture_output=True, text=True, timeout=60)
    assert status.returncode == 0 and "serve" in status.stdout  # the rest of the CLI is untouched


def test_sigterm_lets_an_upload_in_flight_finish(tmp_path: Path) -> None:
    server = subprocess.Popen(
        [crowdcode_executable(), "serve", "--port", "0", "--store", str(tmp_path / "store")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().split(" on ")[1].split(",")[0]
        client = Client(url, install(1))
        data = bundle(install(1), 500)
        upload = client.upload_url(data)
        host, port = url.removeprefix("http://").split(":")
        sock = socket.create_connection((host, int(port)))
        sock.sendall(f"PUT {upload} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data[:100])
        wait_for(lambda: httpx.get(url + "/healthz").json()["uploadsInFlight"] == 1, "the upload to start")
        client.http.close()
        server.send_signal(signal.SIGTERM)
        time.sleep(0.5)  # the server is stopping: it must not cut the upload in flight
        assert server.poll() is None
        sock.sendall(data[100:])
        assert read_response(sock).startswith(b"HTTP/1.1 201 ")
        assert server.wait(timeout=30) == -signal.SIGTERM  # uvicorn re-raises the signal once drained
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    stored = list((tmp_path / "store" / "bundles").rglob("*.tar.zst"))
    assert [p.read_bytes() for p in stored] == [data]
