"""A real `crowdcode serve` process on 127.0.0.1 attacked as a hostile client would, while honest
clients (the real `crowdcode upload --now`, and the protocol spoken by hand) keep uploading.

Each attack's answer is asserted, and so is what must hold whatever it was: the server stays up
and serves honest clients, their bundles are stored byte for byte, nothing partial or outside
the store is left, memory stays bounded, and no traceback or internal error reaches a body or
the log. The attacks that broke the server before each have a test of their own below.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import resource
import select
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import zstandard

from crowdcode_sdk.locations import Locations
from crowdcode_sdk.upload import read_bundle
from crowdcode_sdk.upload.bundle import BundleWriter
from tests.conftest import crowdcode_executable
from tests.privacy_support import configure, privacy_home, serving  # noqa: F401 - a fixture
from tests.test_server import SESSION, Client, bundle, install
from tests.test_upload import record

FAST = ["--requests-per-ip", "1e6", "--registrations-per-ip", "1e3", "--requests-per-install", "1e3"]
"""Every client here is 127.0.0.1: per-address limits would throttle the honest ones with the rest."""
RSS_BOUND_MB = 120
"""Peak RSS of a server under these attacks (docs/privacy.md bounds it at 120 MB for 2 GB in flight)."""


@dataclass
class Served:
    url: str
    pid: int
    store: Path
    log: Path

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.url.removeprefix("http://").split(":")
        return host, int(port)

    def connect(self, data: bytes = b"") -> socket.socket:
        sock = socket.create_connection(self.address)
        if data:
            sock.sendall(data)
        return sock

    def peak_rss_mb(self) -> float:
        status = Path(f"/proc/{self.pid}/status").read_text()
        return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]) / 1024

    def health(self) -> int:
        return httpx.get(self.url + "/healthz", timeout=30).status_code


@contextlib.contextmanager
def attacked(tmp_path: Path, *args: str, limits: dict[int, int] | None = None) -> Iterator[Served]:
    """`crowdcode serve` in a process of its own (with ``limits``: rlimits set before it starts),
    its log in a file. On the way out: stopped by SIGTERM, which it must exit by, with no
    traceback, internal error or temporary file left behind."""
    store, log = tmp_path / "store", tmp_path / "serve.log"

    def set_limits() -> None:
        for which, value in (limits or {}).items():
            resource.setrlimit(which, (value, value))

    with open(log, "w") as stderr, serving(store, *FAST, *args, stderr=stderr, preexec_fn=set_limits) as (url, pid):
        yield Served(url, pid, store, log)
    text = log.read_text()
    assert "Traceback" not in text and '"status":500' not in text, text[-3000:]
    assert not list(store.glob("_incoming/*"))  # no spool file left
    assert {p.name for p in store.iterdir()} <= {"_server", "_incoming", "bundles"}
    assert not [p for p in (store / "bundles").rglob("*") if p.is_file() and p.suffix not in (".zst", ".json")]


def answer_of(sock: socket.socket, timeout: float = 30) -> bytes:
    """Everything the server sends until it closes the connection, which it must within ``timeout``."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass  # closed with our bytes unread: what it sent before is what counts
    sock.close()
    return data


def dribble(sock: socket.socket, byte: bytes, every_s: float = 0.2, limit_s: float = 40) -> bytes:
    """Send ``byte`` every ``every_s`` until the server answers or closes; its answer."""
    sock.settimeout(every_s)
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            sock.sendall(byte)
            data = sock.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            return b""
        return data + answer_of(sock)
    raise AssertionError(f"the server let a client dribble for {limit_s} s")


def stored_bundles(store: Path) -> dict[str, bytes]:
    """Every stored bundle by its file name's hash, each checked to be the bytes of that hash."""
    found = {}
    for path in (store / "bundles").rglob("*.tar.zst"):
        data = path.read_bytes()
        sha = path.name.removesuffix(".tar.zst")
        assert hashlib.sha256(data).hexdigest() == sha, path
        found[sha] = data
    return found


def large_bundle(install_id: str, size: int, n: int = 0) -> bytes:
    writer = BundleWriter(install_id=install_id, sdk_version="test")
    writer.add(f"snapshots/blobs/{'c' * 64}", os.urandom(size))
    writer.add(
        f"sessions/{n:032x}/events-000001.jsonl",
        b'{"sequence":1,"timestamp":5,"type":"action","action":{"kind":"focus_change","focused":true}}\n',
    )
    return writer.build(level=1)


# --- the siege: every attack at once, honest uploads meanwhile ------------------------------------


def test_a_siege_on_loopback_leaves_honest_uploads_whole(
    privacy_home: Locations,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    limits = ["--max-connections", "64", "--header-timeout-s", "3", "--max-uncompressed-mb", "2"]
    with attacked(tmp_path, *limits) as server:
        honest = Client(server.url, install(1))
        mine = [bundle(install(1), n) for n in range(1, 6)] + [large_bundle(install(1), 300_000)]
        attacker, bomber, corrupter, impostor, cut = (Client(server.url, install(i)) for i in range(2, 7))
        data = bundle(install(2), 3)
        url = attacker.upload_url(data)
        cut_short = bundle(cut.install_id, 4)
        cut_url = cut.upload_url(cut_short)
        # more silent connections than the cap, first: the longest waiting make room for requests
        silent = [server.connect() for _ in range(100)]

        def put(head: str, body: bytes = b"") -> socket.socket:
            return server.connect(f"{head}\r\nHost: x\r\n\r\n".encode() + body)

        attacks: dict[str, Callable[[], bytes | int | str]] = {
            "slow headers": lambda: dribble(server.connect(b"GET /healthz HTTP/1.1\r\n"), b"X"),
            "slow json": lambda: dribble(
                put("POST /v1/installs HTTP/1.1\r\nContent-Length: 1000", b'{"installId": '), b" "
            ),
            "endless chunks": lambda: dribble(
                put(f"PUT {url} HTTP/1.1\r\nTransfer-Encoding: chunked", b"1\r\na\r\n"), b"1\r\na\r\n"
            ),
            "lying length": lambda: dribble(put("GET /healthz HTTP/1.1\r\nContent-Length: 99999999999"), b"a"),
            "huge length": lambda: answer_of(put(f"PUT {url} HTTP/1.1\r\nContent-Length: {10**30}")),
            "header flood": lambda: answer_of(
                put("GET /healthz HTTP/1.1\r\n" + "\r\n".join(f"X-{i}: {'b' * 100}" for i in range(2000)))
            ),
            "bad line": lambda: answer_of(server.connect(b"\x00\xff GARBAGE / HTTP/9\r\n\r\n")),
            "deep json": lambda: (
                attacker.http.post(
                    "/v1/uploads", content=b"[" * 30000 + b"]" * 30000, headers={"Content-Type": "application/json"}
                ).text
            ),
            "bad utf-8": lambda: attacker.http.post("/v1/uploads", content=b'{"sha256": "\xff\xfe"}').text,
            "huge number": lambda: attacker.http.post("/v1/uploads", content=b'{"size": 1' + b"0" * 5000 + b"}").text,
            "bomb": lambda: bomber.put(zstandard.ZstdCompressor(level=19).compress(b"\0" * (8 << 20))).text,
            "corrupt frame": lambda: corrupter.put(data[:30] + bytes(50) + data[80:]).text,
            "truncated": lambda: put(
                f"PUT {cut_url} HTTP/1.1\r\nContent-Length: {len(cut_short)}", cut_short[:-9]
            ).close(),
            "forged sig": lambda: attacker.put(data, url.replace("sig=", "sig=f")).status_code,
            "other install": lambda: impostor.put(bundle(install(1))).text,
            "traversal": lambda: ",".join(
                str(attacker.http.request(method, path).status_code)
                for method, path in [
                    ("PUT", f"/v1/blobs/..%2F..%2F{install(2)}/{'a' * 64}?size=1&expires=9999999999&sig=0"),
                    ("PUT", f"/v1/blobs/{install(2)}/{'a' * 63}%00?size=1&expires=9999999999&sig=0"),
                    ("GET", "/v1/bundles/..%2F_server%2Fsecret"),
                    ("GET", "/v1/bundles/%2Fetc%2Fpasswd"),
                    ("GET", "/v1/bundles/" + "\uff41" * 64),
                    ("GET", f"/v1/bundles/{'a' * 10000}"),
                ]
            ),
            "no token": lambda: httpx.post(server.url + "/v1/uploads", json={"sha256": "a" * 64, "size": 1}).text,
            "same id twice at once": lambda: ",".join(
                str(s) for s in sorted(ThreadPoolExecutor(2).map(lambda _: attacker.put(data, url).status_code, "ab"))
            ),
        }

        def honest_uploads() -> list[str]:
            acked = []
            for one in mine:
                put_answer = honest.put(one)
                assert put_answer.status_code == 201, put_answer.text
                acked.append(honest.ack(one).json()["sha256"])
            return acked

        def upload_now() -> str:
            """`crowdcode upload --now` until it has sent the session: a failed send is retried by
            the next run (at once here: no backoff in this home), as the background uploader would."""
            runs = []
            while len(runs) < 3:
                run = subprocess.run(
                    [crowdcode_executable(), "upload", "--now"], capture_output=True, text=True, timeout=120
                )
                assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
                runs.append(run.stdout)
                if "sent 1" in run.stdout:
                    return "".join(runs)
            raise AssertionError(f"not sent in {len(runs)} runs: {runs}")

        record(privacy_home).close()
        configure(privacy_home, **{"consent.status": "accepted", "upload.url": server.url})
        with ThreadPoolExecutor(len(attacks) + 2) as pool:
            running = {name: pool.submit(attack) for name, attack in attacks.items()}
            by_hand = pool.submit(honest_uploads)
            cli = pool.submit(upload_now)
            answers = {name: future.result() for name, future in running.items()}
            assert by_hand.result() == [hashlib.sha256(one).hexdigest() for one in mine]
            cli.result()
        assert server.health() == 200
        for sock in silent:  # closed to make room, or answered 408 at their deadline: none left open
            end = answer_of(sock)
            assert end == b"" or end.startswith(b"HTTP/1.1 408 "), end
        assert server.peak_rss_mb() < RSS_BOUND_MB

        def status(name: str) -> bytes:
            value = answers[name]
            assert isinstance(value, bytes)
            return value.split(b"\r\n", 1)[0]

        assert status("slow headers") == b"HTTP/1.1 408 Request Timeout"
        assert status("slow json") == b"HTTP/1.1 408 Request Timeout"
        assert status("endless chunks") == b"HTTP/1.1 411 Length Required"
        assert status("lying length") == b"HTTP/1.1 200 OK"  # answered, then closed: the loop above ended
        assert status("huge length") == b"HTTP/1.1 400 Bad Request"
        assert status("header flood") == b"HTTP/1.1 431 Request Header Fields Too Large"
        assert status("bad line") == b"HTTP/1.1 400 Bad Request"
        assert "body is not JSON" in str(answers["deep json"])
        assert "body is not JSON" in str(answers["bad utf-8"])
        assert "body is not JSON" in str(answers["huge number"])
        assert "expands beyond" in str(answers["bomb"]) or "over" in str(answers["bomb"])
        assert "bundle rejected" in str(answers["corrupt frame"])
        assert answers["forged sig"] == 403
        assert "manifest installId is not this install's" in str(answers["other install"])
        assert set(str(answers["traversal"]).split(",")) <= {"400", "401", "404"}
        assert "missing or invalid install token" in str(answers["no token"])
        assert answers["same id twice at once"] in ("200,201", "201,201")
        for answer in answers.values():
            assert "Traceback" not in str(answer) and "internal error" not in str(answer)

        stored = stored_bundles(server.store)
        assert hashlib.sha256(cut_short).hexdigest() not in stored
        for one in [*mine, data]:
            assert stored[hashlib.sha256(one).hexdigest()] == one
        (from_cli,) = [read_bundle(d) for d in stored.values() if d not in (*mine, data)]
        events = [
            orjson.loads(line)
            for name, member in sorted(from_cli.members.items())
            if name.endswith(".jsonl")
            for line in member.splitlines()
        ]
        assert [e["sequence"] for e in events] == list(range(1, len(events) + 1)) and len(events) >= 21
        assert list(privacy_home.sessions_dir.iterdir()) == []  # acknowledged, so deleted locally


# --- what broke, one test each ---------------------------------------------------------------------


def test_connections_past_the_cap_make_room_for_requests(tmp_path: Path) -> None:
    """A client holding the cap's worth of silent connections used to get every other one 503."""
    with attacked(tmp_path, "--max-connections", "40") as server:
        silent = [server.connect() for _ in range(60)]
        with httpx.Client(base_url=server.url) as honest:
            assert honest.get("/healthz").status_code == 200
            assert Client(server.url, install(1)).put(bundle(install(1))).status_code == 201
        closed = 0
        deadline = time.monotonic() + 30
        while closed < 20:  # the longest waiting were closed to make room: they read the end
            ended, _, _ = select.select(silent, [], [], max(0, deadline - time.monotonic()))
            assert ended, f"only {closed} connections closed to make room"
            for sock in ended:
                assert sock.recv(1) == b""
                silent.remove(sock)
                closed += 1
        metrics = httpx.get(server.url + "/metrics").text
        assert 'crowdcode_rejections_total{reason="idle_shed"}' in metrics


def test_a_short_file_limit_lowers_the_cap_instead_of_dropping_clients(tmp_path: Path) -> None:
    """Past its file descriptors, the server accepted and dropped new connections unanswered."""
    with attacked(tmp_path, limits={resource.RLIMIT_NOFILE: 320}) as server:
        silent = [server.connect() for _ in range(400)]
        assert server.health() == 200
        assert Client(server.url, install(1)).put(bundle(install(1))).status_code == 201
        for sock in silent:
            sock.close()


def test_bodies_left_unread_close_their_connection(tmp_path: Path) -> None:
    """uvicorn discards the rest of a body after the answer and keeps the connection: a chunked
    body that never ended, or a lying length to a route that reads none, held it for as long as
    the client dribbled."""
    with attacked(tmp_path) as server:
        for head in (
            "PUT /v1/blobs/x/y HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked",
            "GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked",
            "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999",
            "GET /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999",
        ):
            sock = server.connect(head.encode() + b"\r\n\r\n1\r\na\r\n")
            answer = dribble(sock, b"1\r\na\r\n")
            assert b"\r\nconnection: close\r\n" in answer.lower(), (head, answer)


def test_a_json_body_dribbled_is_cut_off(tmp_path: Path) -> None:
    """JSON bodies were read without the upload's deadline or minimum rate: a byte every few
    seconds held the connection and a request task for ever."""
    with attacked(tmp_path) as server:
        started = time.monotonic()
        sock = server.connect(b"POST /v1/installs HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
        answer = dribble(sock, b" ", every_s=0.5)
        assert answer.startswith(b"HTTP/1.1 408 ") and b"slower than" in answer, answer
        assert time.monotonic() - started < 30


def test_a_full_store_answers_507_and_keeps_nothing(tmp_path: Path) -> None:
    """A store without room was an internal error with a traceback in the log."""
    with attacked(tmp_path, limits={resource.RLIMIT_FSIZE: 200_000}) as server:
        client = Client(server.url, install(1))
        small, large = bundle(install(1), 3), large_bundle(install(1), 300_000)
        refused = client.put(large)
        assert refused.status_code == 507 and "no room" in refused.json()["error"], refused.text
        assert int(refused.headers["Retry-After"]) > 0
        assert client.put(small).status_code == 201  # what fits is still stored
        assert client.ack(large).status_code == 404
        assert stored_bundles(server.store) == {hashlib.sha256(small).hexdigest(): small}
    assert "the store has no room for a bundle" in server.log.read_text()


def test_slow_legal_uploads_do_not_hold_up_others(tmp_path: Path) -> None:
    """A large body held one of the two validators for as long as its client took to send it: two
    uploads of a few MB sent at a legal rate held both, and every other body over 64 KiB waited
    unread (an honest 300 KB upload timed out at its client's 40 s)."""
    rate = 64 * 1024  # four times the minimum rate: legal however the machine's load delays a send
    with attacked(tmp_path) as server:
        slow = []
        for i in range(4):  # more than the validators (2)
            client = Client(server.url, install(10 + i))
            data = large_bundle(client.install_id, 4 << 20, i)  # a minute at that rate
            url = client.upload_url(data)
            head = f"PUT {url} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {len(data)}\r\n\r\n"
            slow.append((server.connect(head.encode()), data))
        stop = threading.Event()

        def trickle(sock: socket.socket, data: bytes) -> int:
            """Send ``data`` at ``rate`` on average until stopped; how much went."""
            sent, started = 0, time.monotonic()
            while not stop.wait(0.05):
                due = int(rate * (time.monotonic() - started))
                sock.sendall(data[sent:due])
                sent = max(sent, due)
            return sent

        with ThreadPoolExecutor(len(slow)) as pool:
            trickling = [pool.submit(trickle, sock, data) for sock, data in slow]
            try:
                deadline = time.monotonic() + 30
                while httpx.get(server.url + "/healthz").json()["uploadsInFlight"] != len(slow):
                    assert time.monotonic() < deadline, "the slow uploads did not start"
                honest = Client(server.url, install(1))
                for size in (300_000, 3 << 20):
                    data = large_bundle(honest.install_id, size, 1)
                    started = time.monotonic()
                    answer = honest.put(data)
                    took = time.monotonic() - started
                    assert answer.status_code == 201 and took < 20, (size, answer.status_code, f"{took:.1f} s")
                assert httpx.get(server.url + "/healthz").json()["uploadsInFlight"] == len(slow)  # still trickling
            finally:
                stop.set()

            def finish(sock: socket.socket, data: bytes, sent: int) -> bytes:
                """The rest at full speed, and the answer."""
                assert sent < len(data)
                sock.sendall(data[sent:])
                return answer_of(sock)

            answers = pool.map(finish, *zip(*slow, strict=True), [future.result() for future in trickling])
            assert [answer[:13] for answer in answers] == [b"HTTP/1.1 201 "] * len(slow)
        assert len(stored_bundles(server.store)) == len(slow) + 2


def test_sigterm_finishes_honest_uploads_while_attackers_hold_connections(tmp_path: Path) -> None:
    with attacked(tmp_path) as server:
        client = Client(server.url, install(1))
        data = large_bundle(install(1), 200_000)
        upload = client.upload_url(data)
        honest = server.connect(f"PUT {upload} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(data)}\r\n\r\n".encode())
        honest.sendall(data[:1000])
        idle = [server.connect() for _ in range(20)]
        loris = server.connect(b"GET /healthz HTTP/1.1\r\nX: ")
        deadline = time.monotonic() + 30
        while httpx.get(server.url + "/healthz").json()["uploadsInFlight"] != 1:
            assert time.monotonic() < deadline, "the upload did not start"
        client.http.close()
        os.kill(server.pid, signal.SIGTERM)

        def accepting() -> bool:
            try:
                server.connect().close()
            except (ConnectionRefusedError, ConnectionResetError):  # reset: it closed with this one queued
                return False
            return True

        while accepting():  # it stops accepting at once ...
            assert time.monotonic() < deadline, "the server kept accepting after SIGTERM"
        honest.sendall(data[1000:])  # ... and finishes the upload in flight
        assert answer_of(honest).startswith(b"HTTP/1.1 201 ")
        for sock in [*idle, loris]:  # closed by the shutdown, not waited for
            assert answer_of(sock) == b""
    assert stored_bundles(server.store) == {hashlib.sha256(data).hexdigest(): data}


def test_names_are_matched_whole(tmp_path: Path) -> None:
    """``$`` also matches before a final newline: a member named like a journal segment plus a
    newline was stored with its content checked as nothing, and ids with a final newline were
    taken; ``\\d`` let other scripts' digits into a segment's number."""
    arabic_one = "\u0660" * 5 + "\u0661"
    with attacked(tmp_path) as server:
        client = Client(server.url, install(1))
        for name in (f"sessions/{SESSION}/events-000001.jsonl\n", f"sessions/{SESSION}/events-{arabic_one}.jsonl"):
            writer = BundleWriter(install_id=install(1), sdk_version="test")
            writer.members[name] = b"not an event\n"  # past add(), which checks names as the server does
            refused = client.put(writer.build())
            assert refused.status_code == 422 and "unexpected path" in refused.json()["error"], (name, refused.text)
        newline_id = httpx.post(server.url + "/v1/installs", json={"installId": install(1) + "\n"})
        assert newline_id.status_code == 400
        newline_sha = client.http.post("/v1/uploads", json={"sha256": "a" * 64 + "\n", "size": 10})
        assert newline_sha.status_code == 400 and "sha256 must be 64 lowercase hex digits" in newline_sha.text
        assert not stored_bundles(server.store)


def test_pipelined_requests_are_answered_in_bounded_memory(tmp_path: Path) -> None:
    """uvicorn parsed a whole socket read of pipelined requests and queued them all: answers never
    read held megabytes per connection (50 such connections took the server to 260 MB), and a
    read of many small requests was counted as one request's headers (431, then a traceback when
    the answer being written met the closed connection)."""
    with attacked(tmp_path) as server:
        few = server.connect(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 8)
        answers = b""
        few.settimeout(30)
        while answers.count(b'{"ok":true,') < 8:  # a client pipelining a few is served on
            chunk = few.recv(65536)
            assert chunk, answers
            answers += chunk
        few.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert answers.count(b"HTTP/1.1 200 ") == 8 and answer_of(few).startswith(b"HTTP/1.1 200 ")
        before = server.peak_rss_mb()
        floods = []
        for _ in range(50):
            sock = server.connect()
            sock.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                sock.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 3000)  # and never read
            floods.append(sock)
        for sock in floods:  # each is closed after the answers it may have queued
            assert b"HTTP/1.1 431" not in answer_of(sock)
        assert server.peak_rss_mb() - before < 20
        assert server.health() == 200
    assert '"reason":"pipelined"' in server.log.read_text()
