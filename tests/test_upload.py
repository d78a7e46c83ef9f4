"""The uploader against the real ingest server on 127.0.0.1: the happy path and every failure."""

from __future__ import annotations

import functools
import hashlib
import io
import os
import pickle
import tarfile
import time
from collections import Counter
from pathlib import Path

import httpx
import orjson
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from crowdcode_sdk import Edit, Session, TerminalCommand, TextChange
from crowdcode_sdk.cli.main import main
from crowdcode_sdk.journal import segments
from crowdcode_sdk.locations import Locations
from crowdcode_sdk.upload import UploadQueue, read_bundle
from crowdcode_sdk.upload.bundle import BundleError, BundleWriter, Limits
from crowdcode_sdk.upload.queue import backoff_ms
from tests.conftest import run_cli
from tests.privacy_support import (
    FaultyProxy,
    Uploader,
    bundles_in,
    configure,
    make_ingest,
    serving,
    write_snapshot,
)


def record(locations: Locations, n: int = 20, snapshot: str | None = None, text: str = "x") -> Session:
    session = Session(adapter="test", editor="pytest", workspace="/tmp/ws", locations=locations)
    for i in range(n):
        session.record(Edit(file="/tmp/ws/a.py", diff=TextChange(range_offset=i, range_length=0, text=text)))
    if snapshot:
        session.snapshot(snapshot)
    session.record(TerminalCommand(terminal_id="t1", terminal_name="bash", command="ls"))
    return session


def stored_events(server) -> list[dict]:  # type: ignore[no-untyped-def]
    events = []
    for members in bundles_in(server):
        for name, data in sorted(members.items()):
            if name.endswith(".jsonl"):
                events.extend(orjson.loads(line) for line in data.splitlines())
    return sorted(events, key=lambda e: e["sequence"])


def accept(locations: Locations, url: str) -> None:
    configure(locations, **{"consent.status": "accepted", "upload.url": url})


def test_record_upload_store_delete(privacy_home: Locations, ingest) -> None:  # type: ignore[no-untyped-def]
    accept(privacy_home, ingest.url)
    write_snapshot(privacy_home, "snap-1", {"a.py": "print('hello')\n", "src/b.py": "x = 1\n"})
    session = record(privacy_home, snapshot="snap-1")
    terminals = session.directory / "terminals"
    terminals.mkdir()
    (terminals / "t1.cast").write_text('{"version": 2, "width": 80, "height": 24}\n[0.1, "o", "$ ls\\r\\n"]\n')
    session.close()
    directory = session.directory

    report = Uploader(privacy_home).run_once()

    assert (report.built, report.sent, report.failed) == (1, 1, [])
    members = bundles_in(ingest)[0]
    events = stored_events(ingest)
    assert [e["sequence"] for e in events] == list(range(1, 25))
    assert events[-1]["action"]["kind"] == "session_end"
    assert f"sessions/{session.id}/terminals/t1.cast" in members
    manifest = orjson.loads(members["snapshots/manifests/snap-1.json"])
    assert sorted(manifest["files"]) == ["a.py", "src/b.py"]
    assert members[f"snapshots/blobs/{manifest['files']['a.py']}"] == b"print('hello')\n"
    # Local data went only after the acknowledgement: session, snapshot manifest, blobs, queue.
    assert not directory.exists()
    assert not (privacy_home.data_dir / "snapshots" / "manifests" / "snap-1.json").exists()
    assert not any((privacy_home.data_dir / "snapshots" / "blobs").rglob("*")) or all(
        p.is_dir() for p in (privacy_home.data_dir / "snapshots" / "blobs").rglob("*")
    )
    assert UploadQueue(privacy_home).entries() == []
    assert Uploader(privacy_home).run_once().built == 0  # nothing left, nothing sent twice
    assert len(ingest.store.bundles()) == 1


def test_hold_back_and_sealed_segments(privacy_home: Locations, ingest) -> None:  # type: ignore[no-untyped-def]
    accept(privacy_home, ingest.url)
    configure(privacy_home, **{"privacy.hold_back_s": 1, "journal.segment_max_age_s": 1})
    session = record(privacy_home, n=5)
    session.flush()
    assert Uploader(privacy_home).run_once().built == 0  # the only segment is still being written
    time.sleep(1.1)
    session.record(TerminalCommand(terminal_id="t1", terminal_name="bash", command="pwd"))
    session.flush()  # a new segment: the first one is sealed now
    assert len(segments(session.directory)) == 2
    report = Uploader(privacy_home).run_once()
    assert report.sent == 1
    assert [e["sequence"] for e in stored_events(ingest)] == list(range(1, 8))
    assert len(segments(session.directory)) == 1  # the sealed segment was deleted after the ack
    session.close()
    assert Uploader(privacy_home).run_once().built == 0  # the last events are younger than the hold-back
    time.sleep(1.1)
    assert Uploader(privacy_home).run_once().sent == 1
    assert [e["sequence"] for e in stored_events(ingest)] == list(range(1, 10))
    assert not session.directory.exists()


def test_panic_before_hold_back_is_never_uploaded(privacy_home: Locations, ingest) -> None:  # type: ignore[no-untyped-def]
    accept(privacy_home, ingest.url)
    configure(privacy_home, **{"privacy.hold_back_s": 2})
    session = record(privacy_home, n=3, text="SECRET-PANIC-TEXT")
    session.panic()
    session.close()
    assert Uploader(privacy_home).run_once().built == 0
    time.sleep(2.1)
    assert Uploader(privacy_home).run_once().sent == 1
    stored = b"".join(b"".join(m.values()) for m in bundles_in(ingest))
    assert b"SECRET-PANIC-TEXT" not in stored
    assert any(e["action"]["kind"] == "panic" for e in stored_events(ingest) if e["type"] == "action")


@pytest.mark.parametrize("consent", ["pending", "declined"])
@pytest.mark.unverified(
    reason="synthetic keystrokes into a file the session never opened: the upload path is under test, not a replay"
)
def test_without_consent_nothing_is_sent(privacy_home: Locations, ingest, consent: str) -> None:  # type: ignore[no-untyped-def]
    configure(privacy_home, **{"consent.status": consent, "upload.url": ingest.url})
    record(privacy_home).close()
    report = Uploader(privacy_home).run_once(force=True)
    assert report.skipped and consent in report.skipped
    assert ingest.store.bundles() == []
    assert UploadQueue(privacy_home).entries() == []  # not even built: redaction never ran for nothing
    assert main(["upload", "--now"]) == 2


@pytest.mark.unverified(
    reason="synthetic keystrokes into a file the session never opened: the upload path is under test, not a replay"
)
def test_declining_drops_prepared_bundles(privacy_home: Locations, tmp_path: Path) -> None:
    accept(privacy_home, "http://127.0.0.1:9")  # nobody listens: the bundle stays queued
    record(privacy_home).close()
    assert Uploader(privacy_home).run_once().built == 1
    assert len(UploadQueue(privacy_home).entries()) == 1
    assert main(["consent", "decline"]) == 0
    assert UploadQueue(privacy_home).entries() == []
    assert len(list(privacy_home.sessions_dir.iterdir())) == 1  # the recording itself stays local


def test_server_down_queued_retried_nothing_lost(privacy_home: Locations, tmp_path: Path) -> None:
    probe = make_ingest(tmp_path)
    url = probe.url
    probe.close()  # the server is down
    accept(privacy_home, url)
    configure(privacy_home, **{"upload.retry_base_s": 60})
    record(privacy_home, n=50).close()
    report = Uploader(privacy_home).run_once()
    assert report.built == 1 and report.sent == 0
    assert f"POST {url.rstrip('/')}/v1/installs: cannot connect to the server" in report.failed[0]  # where it tried
    (entry,) = UploadQueue(privacy_home).entries()
    assert entry.attempts == 1 and entry.next_attempt > time.time() * 1000 + 25_000  # backoff with jitter
    assert Uploader(privacy_home).run_once().sent == 0  # not due yet: no hammering
    # The queue survives a restart: a new uploader (new process) picks it up once the server is back.
    host, port = url.removeprefix("http://").split(":")
    from crowdcode_sdk.server import RunningServer

    server = RunningServer(str(tmp_path / "store"), host, int(port))
    try:
        report = Uploader(privacy_home).run_once(force=True)
        assert report.sent == 1
        assert len(stored_events(server)) == 53
        assert UploadQueue(privacy_home).entries() == []
    finally:
        server.close()


@pytest.mark.parametrize("fault", ["500", "drop", "drop_response", "stall"])
def test_faults_mid_upload_are_retried_without_duplicates(privacy_home: Locations, ingest, fault: str) -> None:  # type: ignore[no-untyped-def]
    host, port = ingest.server_address[:2]
    proxy = FaultyProxy((host, port), lambda method, path, n: fault if method == "PUT" and n == 1 else "pass")
    accept(privacy_home, proxy.url)
    configure(privacy_home, **{"upload.timeout_s": 1})
    session = record(privacy_home, n=200)
    session.close()
    try:
        first = Uploader(privacy_home).run_once()
        if fault == "drop_response":
            # The server stored the bytes; the client never heard so, asked, and was told.
            assert first.sent == 1, first
        else:
            assert first.sent == 0 and first.failed, first
            assert session.directory.exists()  # nothing deleted without an acknowledgement
            second = Uploader(privacy_home).run_once()  # due again: retry_base_s is 0 here
            assert second.sent == 1, second
        assert len(ingest.store.bundles()) == 1
        assert len(stored_events(ingest)) == 203
        assert not session.directory.exists()
        assert "PUT" in {m for m, _, _ in proxy.log}
    finally:
        proxy.close()


def test_retry_after_stored_but_unacknowledged_is_idempotent(privacy_home: Locations, ingest) -> None:  # type: ignore[no-untyped-def]
    host, port = ingest.server_address[:2]
    # Every acknowledgement fails once: the bundle is stored but the client cannot confirm it.
    proxy = FaultyProxy(
        (host, port), lambda method, path, n: "500" if path.startswith("/v1/bundles") and n == 1 else "pass"
    )
    accept(privacy_home, proxy.url)
    session = record(privacy_home)
    session.close()
    try:
        assert Uploader(privacy_home).run_once().sent == 0
        assert session.directory.exists()
        report = Uploader(privacy_home).run_once(force=True)  # asks again: {"stored": true}, no second PUT
        assert report.sent == 1
        assert [a for m, p, a in proxy.log if m == "PUT"] == ["pass"]
        assert len(ingest.store.bundles()) == 1
    finally:
        proxy.close()


def _token(server) -> str:  # type: ignore[no-untyped-def]
    answer = httpx.post(f"{server.url}/v1/installs", json={"installId": "0" * 32}).json()
    return answer["token"]


def _put(server, data: bytes, sha: str | None = None) -> httpx.Response:  # type: ignore[no-untyped-def]
    import hashlib

    sha = sha or hashlib.sha256(data).hexdigest()
    headers = {"Authorization": f"Bearer {_token(server)}"}
    answer = httpx.post(f"{server.url}/v1/uploads", json={"sha256": sha, "size": len(data)}, headers=headers)
    assert answer.status_code == 200, answer.text
    return httpx.put(server.url + answer.json()["uploadUrl"], content=data)


def _bundle(members: dict[str, bytes], install_id: str = "0" * 32) -> bytes:
    writer = BundleWriter(install_id=install_id, sdk_version="test")
    for name, data in members.items():
        writer.add(name, data)
    return writer.build()


SESSION = "1" * 32
GOOD_EVENT = b'{"sequence":1,"timestamp":5,"type":"action","action":{"kind":"focus_change","focused":true}}\n'


def test_server_rejects_bad_bundles_with_clear_errors(ingest) -> None:  # type: ignore[no-untyped-def]
    ok = _put(ingest, _bundle({f"sessions/{SESSION}/events-000001.jsonl": GOOD_EVENT}))
    assert ok.status_code == 201, ok.text
    bad_schema = _put(ingest, _bundle({f"sessions/{SESSION}/events-000001.jsonl": GOOD_EVENT.replace(b"true", b"1")}))
    assert bad_schema.status_code == 422 and "action.focused" in bad_schema.json()["error"]
    corrupted = _bundle({f"sessions/{SESSION}/events-000001.jsonl": GOOD_EVENT + b"x" * 100})
    flipped = corrupted[:40] + bytes([corrupted[40] ^ 0xFF]) + corrupted[41:]
    response = _put(ingest, flipped)
    assert response.status_code == 422 and "bundle rejected" in response.json()["error"]
    mismatch = _put(ingest, b"not the announced bytes!", sha=hashlib.sha256(b"something else").hexdigest())
    assert mismatch.status_code == 422 and "hash mismatch" in mismatch.json()["error"]
    stranger = _put(ingest, _bundle({f"sessions/{SESSION}/events-000001.jsonl": GOOD_EVENT}, install_id="f" * 32))
    assert stranger.status_code == 422 and "installId" in stranger.json()["error"]
    assert len(ingest.store.bundles()) == 1


def test_server_rejects_oversized_and_traversal(tmp_path: Path) -> None:
    server = make_ingest(tmp_path, max_bytes=2048, max_uncompressed_bytes=64 * 1024)
    try:
        headers = {"Authorization": f"Bearer {_token(server)}"}
        too_big = httpx.post(f"{server.url}/v1/uploads", json={"sha256": "a" * 64, "size": 4096}, headers=headers)
        assert too_big.status_code == 413 and "exceeds the limit" in too_big.json()["error"]
        bomb = _bundle({f"sessions/{SESSION}/events-000001.jsonl": GOOD_EVENT * 2000})  # compresses well
        assert len(bomb) < 2048
        response = _put(server, bomb)
        assert response.status_code == 422 and "expands beyond" in response.json()["error"]
        # Paths: neither URLs nor archive members can leave the store.
        assert httpx.put(f"{server.url}/v1/blobs/../../etc/{'a' * 64}", content=b"x").status_code == 404
        assert httpx.get(f"{server.url}/v1/bundles/..%2F..%2Fsecret", headers=headers).status_code == 400
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as tar:
            info = tarfile.TarInfo("../../escape.jsonl")
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
        evil = zstandard.ZstdCompressor().compress(raw.getvalue())
        response = _put(server, evil)
        assert response.status_code == 422 and "unexpected path" in response.json()["error"]
        forged = httpx.put(
            f"{server.url}/v1/blobs/{'0' * 32}/{'a' * 64}?size=1&expires=9999999999&sig=00", content=b"x"
        )
        assert forged.status_code == 403
        assert httpx.post(f"{server.url}/v1/uploads", json={"sha256": "a" * 64, "size": 1}).status_code == 401
        assert not list((tmp_path / "store").rglob("escape*"))
    finally:
        server.close()


@pytest.mark.unverified(
    reason="synthetic keystrokes into a file the session never opened: the upload path is under test, not a replay"
)
def test_uploader_marks_rejected_bundles_and_keeps_data(privacy_home: Locations, tmp_path: Path) -> None:
    server = make_ingest(tmp_path, max_bytes=300)
    try:
        accept(privacy_home, server.url)
        session = record(privacy_home, n=100)
        session.close()
        report = Uploader(privacy_home).run_once()
        assert report.rejected and "exceeds the limit" in report.rejected[0]
        (entry,) = UploadQueue(privacy_home).entries()
        assert entry.rejected
        assert session.directory.exists()
        assert Uploader(privacy_home).run_once(force=True).sent == 0  # not retried forever, not rebuilt
        assert len(UploadQueue(privacy_home).entries()) == 1
        assert main(["upload", "--retry-rejected", "--now"]) == 1  # tried again, refused again
        (entry,) = UploadQueue(privacy_home).entries()
        assert entry.rejected and entry.attempts == 2
    finally:
        server.close()


def test_read_bundle_checks_manifest_hashes() -> None:
    data = _bundle({f"sessions/{SESSION}/events-000001.jsonl": GOOD_EVENT})
    raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read()
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(raw)) as src, tarfile.open(fileobj=out, mode="w") as dst:
        for info in src:
            content = src.extractfile(info).read()
            if info.name.endswith(".jsonl"):
                content = content.replace(b"true", b"fals")
            dst.addfile(info, io.BytesIO(content))
    with pytest.raises(BundleError, match="does not match its hash"):
        read_bundle(zstandard.ZstdCompressor().compress(out.getvalue()))
    with pytest.raises(BundleError, match="limit"):
        read_bundle(data, Limits(max_bytes=10))


def test_a_refused_bundle_does_not_spoil_the_next_on_the_same_thread() -> None:
    """Each thread keeps its zstd decoder from one bundle to the next: one left mid-frame by a
    refusal (a truncated body, a corrupt block, a missing end) must start clean on the next."""
    blob = os.urandom(1 << 20)
    name = f"snapshots/blobs/{hashlib.sha256(blob).hexdigest()}"
    data = _bundle({name: blob, f"sessions/{SESSION}/events-000001.jsonl": GOOD_EVENT})
    for broken in (data[: len(data) // 2], data[:100] + bytes(1000) + data[1100:], data[:-3]):
        with pytest.raises(BundleError):
            read_bundle(broken)
        assert read_bundle(data).members[name] == blob


def test_fsspec_store(tmp_path: Path) -> None:
    from crowdcode_sdk.server import BundleStore

    store = BundleStore("memory://crowdcode-test")
    with store.spool() as spool:
        spool.write(b"bytes")
        receipt = store.put("0" * 32, "a" * 64, spool, {"sessions": {}}, 0)
    assert store.receipt("0" * 32, "a" * 64) == receipt and receipt["size"] == 5
    assert store.read(store.bundles()[0]) == b"bytes"
    assert store.bundles() == [f"/crowdcode-test/bundles/{'0' * 32}/{'a' * 64}.tar.zst"]
    assert store.secret() == store.secret()


def test_backoff_grows_with_jitter() -> None:
    import random

    rng = random.Random(1)
    delays = [backoff_ms(n, 5, 3600, rng) for n in range(1, 12)]
    assert 2500 <= delays[0] <= 5000
    assert 1_800_000 <= delays[-1] <= 3_600_000  # capped at retry_max_s
    assert len(set(delays)) == len(delays)


def test_upload_now_cli_progress(privacy_home: Locations, ingest, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    accept(privacy_home, ingest.url)
    record(privacy_home).close()
    assert main(["upload", "--now"]) == 0
    assert "sent 1" in capsys.readouterr().out
    assert main(["upload"]) == 0
    assert "Uploaded so far: 1 bundles" in capsys.readouterr().out


def test_an_upload_that_sends_nothing_says_what_is_held_back_and_until_when(  # type: ignore[no-untyped-def]
    privacy_home: Locations, ingest, capsys: pytest.CaptureFixture[str]
) -> None:
    accept(privacy_home, ingest.url)
    configure(privacy_home, **{"privacy.hold_back_s": 900})
    record(privacy_home, n=0).close()
    live = record(privacy_home, n=0)
    assert main(["upload", "--now"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Built 0 bundles; sent 0 (0 B)."
    assert lines[1].startswith(
        "Held back: 1 ended session younger than privacy.hold_back_s (900 s, for `crowdcode panic`)"
    )
    assert lines[1].endswith(("(in 15:00).", "(in 14:59).", "(in 14:58)."))
    assert lines[2].startswith("Still recording: 1 session; events leave once older than 900 s")
    assert main(["upload"]) == 0  # the queue view says the same
    queue = capsys.readouterr().out.splitlines()
    assert queue[1] == "Queue: empty" and queue[2].startswith("Held back: 1 ended session") and queue[3] == lines[2]
    live.close()


def test_the_real_commands_end_to_end(privacy_home: Locations, tmp_path: Path) -> None:
    """`crowdcode serve` and `crowdcode upload --now` as the processes users run."""
    from tests.conftest import run_cli

    store = tmp_path / "served"
    with serving(store) as (url, _pid):
        record(privacy_home).close()
        assert "nothing uploaded: consent is pending" in run_cli("upload", "--now", check=False).stderr
        run_cli("consent", "accept")
        run_cli("config", "set", "upload.url", url)
        assert "sent 1" in run_cli("upload", "--now").stdout
        assert "Uploaded so far: 1 bundles" in run_cli("status").stdout + run_cli("upload").stdout
        assert len(list(store.glob("bundles/*/*.tar.zst"))) == 1
        assert list(privacy_home.sessions_dir.iterdir()) == []
        gone = "No sessions on this machine: 1 bundle uploaded so far, each deleted here once the server acknowledged it.\n"
        assert run_cli("sessions").stdout == gone and run_cli("verify", "--all").stdout == gone


def test_s3_compatible_store(privacy_home: Locations, s3_endpoint: str) -> None:
    """The server stores into S3 through fsspec/s3fs; moto's S3 server stands in for the service."""
    import boto3

    from crowdcode_sdk.server import BundleStore, RunningServer

    store = BundleStore("s3://crowd/ingest", {"client_kwargs": {"endpoint_url": s3_endpoint}})
    server = RunningServer(store)
    try:
        accept(privacy_home, server.url)
        session = record(privacy_home)
        session.close()
        assert Uploader(privacy_home).run_once().sent == 1
        listing = boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(Bucket="crowd")["Contents"]
        keys = [o["Key"] for o in listing]
        assert sum(k.endswith(".tar.zst") for k in keys) == 1 and sum(k.endswith(".json") for k in keys) == 1
        assert len(stored_events(server)) == 23
        assert not session.directory.exists()
    finally:
        server.close()


def test_password_at_a_prompt_reaches_no_bundle(privacy_home: Locations, ingest) -> None:  # type: ignore[no-untyped-def]
    """Second line of defence behind the shell adapter's echo-off rule: keystrokes after a
    password prompt, in events and in the raw stream, are masked before anything leaves."""
    from crowdcode_sdk import Position, TerminalInput, TerminalViewport

    accept(privacy_home, ingest.url)
    session = Session(adapter="test", editor="pytest", locations=privacy_home)
    prompt = "[sudo] password for dev: "
    session.observe(
        active_terminal=TerminalViewport(
            id="t1", name="bash", viewport=["$ sudo ls", prompt], cursor=Position(line=1, character=len(prompt))
        )
    )
    for char in "Tr0ub4dor&3\r":
        session.record(TerminalInput(terminal_id="t1", data=char))
    terminals = session.directory / "terminals"
    terminals.mkdir()
    cast = [{"version": 2, "width": 80, "height": 24}, [0.1, "o", "$ sudo ls\r\n"], [0.2, "o", prompt]]
    cast += [[0.3, "i", c] for c in "Tr0ub4dor&3\r"] + [[0.4, "o", "\r\nREADME.md\r\n"]]
    (terminals / "t1.cast").write_bytes(b"\n".join(orjson.dumps(x) for x in cast) + b"\n")
    session.close()
    assert Uploader(privacy_home).run_once().sent == 1
    stored = b"".join(b"".join(m.values()) for m in bundles_in(ingest))
    assert b"Tr0ub4dor" not in stored and b"README.md" in stored


def test_delta_snapshots_are_bundled_whole(privacy_home: Locations, ingest) -> None:  # type: ignore[no-untyped-def]
    accept(privacy_home, ingest.url)
    session = Session(adapter="test", editor="pytest", locations=privacy_home)
    write_snapshot(privacy_home, "s1", {"a.py": "a = 1\n", "b.py": "b = 2\n", "c.py": "c\n"}, sessionId=session.id)
    session.snapshot("s1")
    # The engine stores a later snapshot as a delta from its parent.
    write_snapshot(privacy_home, "s2", {"b.py": "b = 3\n"}, sessionId=session.id, parent="s1", removed=["c.py"])
    session.snapshot("s2")
    write_snapshot(privacy_home, "unrelated", {"x.py": "x\n"}, sessionId="someone-else")
    session.close()
    assert Uploader(privacy_home).run_once().sent == 1
    (members,) = bundles_in(ingest)
    s2 = orjson.loads(members["snapshots/manifests/s2.json"])
    assert sorted(s2["files"]) == ["a.py", "b.py"] and "parent" not in s2
    assert members[f"snapshots/blobs/{s2['files']['b.py']}"] == b"b = 3\n"
    manifests = privacy_home.data_dir / "snapshots" / "manifests"
    assert sorted(p.stem for p in manifests.iterdir()) == ["unrelated"]


def test_a_session_leaves_in_order_across_several_bundles(privacy_home: Locations, ingest) -> None:  # type: ignore[no-untyped-def]
    host, port = ingest.server_address[:2]
    # The first bundle's upload fails once; the session's last bundle must wait for it.
    proxy = FaultyProxy((host, port), lambda method, path, n: "500" if method == "PUT" and n == 1 else "pass")
    accept(privacy_home, proxy.url)
    configure(privacy_home, **{"upload.bundle_max_bytes": 1024, "journal.segment_max_bytes": 4096})
    session = record(privacy_home, n=300)
    session.close()
    try:
        first = Uploader(privacy_home).run_once()
        # One failed, the last waits for it; the others went (and their segments with them).
        assert first.built >= 3 and first.sent == first.built - 2 and first.waiting == 1, first
        assert session.directory.exists() and len(segments(session.directory)) == 2
        second = Uploader(privacy_home).run_once(force=True)
        assert second.sent == 2
        assert [e["sequence"] for e in stored_events(ingest)] == list(range(1, 304))
        assert not session.directory.exists()
    finally:
        proxy.close()


@functools.cache
def _sample_bundle() -> bytes:
    """One valid bundle of every member kind, built once (its manifest carries a timestamp)."""
    members = {
        f"sessions/{SESSION}/events-000001.jsonl": GOOD_EVENT,
        f"sessions/{SESSION}/session.json": b'{"metadata": {}}',
        f"sessions/{SESSION}/terminals/t1.cast": b'{"version": 2}\n[0.1, "o", "x"]\n',
        "snapshots/manifests/s.json": orjson.dumps({"files": {"a": "b" * 64}}),
        f"snapshots/blobs/{'b' * 64}": b"text",
    }
    return _bundle(members, install_id="0" * 32)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_any_damage_to_a_bundle_is_a_clear_rejection(data) -> None:  # type: ignore[no-untyped-def]
    """The server's validation never fails with anything but BundleError, whatever the bytes."""
    good = _sample_bundle()
    read_bundle(good)
    raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(good)).read()
    target = data.draw(st.sampled_from(["compressed", "tar"]))
    blob = bytearray(good if target == "compressed" else raw)
    for _ in range(data.draw(st.integers(1, 8))):
        blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    damaged = bytes(blob) if target == "compressed" else zstandard.ZstdCompressor().compress(bytes(blob))
    try:
        read_bundle(damaged, Limits(max_bytes=1 << 20, max_uncompressed_bytes=1 << 20))
    except BundleError as exc:
        assert str(exc)


@pytest.mark.unverified(
    reason="synthetic keystrokes into a file the session never opened: the upload path is under test, not a replay"
)
def test_a_secret_typed_across_a_segment_rotation(privacy_home: Locations, ingest) -> None:  # type: ignore[no-untyped-def]
    secret = "ghp_" + "aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hI6"
    accept(privacy_home, ingest.url)
    configure(privacy_home, **{"journal.segment_max_age_s": 1})
    session = Session(adapter="test", editor="pytest", workspace="/tmp/ws", locations=privacy_home)
    text = f"token = {secret}\n"
    for i, char in enumerate(text):
        if i == 20:
            session.flush()
            time.sleep(1.1)  # the journal rotates: the secret's start and end land in two segments
        session.record(Edit(file="/tmp/ws/a.py", diff=TextChange(range_offset=i, range_length=0, text=char)))
    session.flush()
    assert len(segments(session.directory)) == 2
    assert Uploader(privacy_home).run_once().sent == 1  # the first segment only: the session is live
    stored = b"".join(b"".join(m.values()) for m in bundles_in(ingest))
    typed = "".join(
        orjson.loads(line)["action"]["diff"]["text"] for line in stored.splitlines() if b'"kind":"edit"' in line
    )
    assert typed == "token = " + "*" * 12  # the part typed before the rotation, masked
    session.close()


@pytest.mark.unverified(reason="one session has a damaged journal line on purpose")
def test_a_damaged_session_is_quarantined_not_fatal(privacy_home: Locations, ingest, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    accept(privacy_home, ingest.url)
    damaged = record(privacy_home)
    damaged.close()
    clean = record(privacy_home, text="y")
    clean.close()
    (segment,) = segments(damaged.directory)
    lines = segment.read_bytes().splitlines()
    lines[5] = lines[5][: len(lines[5]) // 2]  # a line cut in the middle of the journal
    segment.write_bytes(b"\n".join(lines) + b"\n")

    upload = run_cli("upload", "--now")
    assert "Traceback" not in upload.stderr and "sent 2" in upload.stdout, upload
    stored = Counter()
    for members in bundles_in(ingest):
        for name, data in members.items():
            if name.endswith(".jsonl"):
                stored[name.split("/")[1]] += len(data.splitlines())
    assert stored == {damaged.id: len(lines) - 1, clean.id: len(lines)}
    status = run_cli("status")
    (line,) = [line for line in status.stdout.splitlines() if line.startswith("Quarantined:")]
    assert damaged.id in line and "1 unreadable line(s)" in line
    assert not damaged.directory.exists()  # uploaded and acknowledged: its readable part left


@pytest.mark.unverified(reason="the session has a damaged journal line on purpose")
def test_reading_commands_skip_a_damaged_line(privacy_home: Locations, tmp_path: Path) -> None:
    session = record(privacy_home)
    session.close()
    (segment,) = segments(session.directory)
    lines = segment.read_bytes().splitlines()
    segment.write_bytes(b"\n".join([*lines[:5], b'{"sequence": 6, "ty', *lines[6:]]) + b"\n")
    for command in (
        ["play", "--no-wait", session.id],
        ["serialize", "--out", str(tmp_path / "ser"), session.id],
        ["export", "--format", "crowd-code-2.0", "-o", str(tmp_path / "cc"), session.id],
        ["export", "--format", "jsonl", "-o", str(tmp_path / "x.jsonl"), session.id],
    ):
        result = run_cli(*command, check=False)
        assert "Traceback" not in result.stderr and result.returncode == 0, (command, result.stderr)


def test_panic_after_a_shell_session_ended_reaches_its_terminal_stream(privacy_home: Locations, ingest) -> None:  # type: ignore[no-untyped-def]
    accept(privacy_home, ingest.url)
    session = record(privacy_home)
    terminals = session.directory / "terminals"
    terminals.mkdir()
    start_ms = time.time_ns() // 1_000_000 - 60_000  # the shell started a minute before the journal
    header = {
        "version": 2,
        "width": 80,
        "height": 24,
        "timestamp": start_ms // 1000,
        "crowdcode": {"timestampMs": start_ms},
    }
    old = [[1.0, "o", "$ "], [2.0, "i", "ls\r"]]
    recent = [[60.2, "i", "export CANARY=wolf\r"], [60.3, "o", "CANARY typed\r\n"]]  # in the panic's reach
    (terminals / "t1.cast").write_bytes(b"\n".join(orjson.dumps(x) for x in [header, *old, *recent]) + b"\n")
    session.close()

    assert "Traceback" not in run_cli("panic").stderr
    assert Uploader(privacy_home).run_once().sent == 1
    (members,) = bundles_in(ingest)
    (cast,) = [data for name, data in members.items() if name.endswith(".cast")]
    assert [orjson.loads(line) for line in cast.splitlines()[1:]] == old


def test_the_redaction_state_kept_between_bundles_holds_no_sent_text(privacy_home: Locations, ingest) -> None:  # type: ignore[no-untyped-def]
    """The state a live session's redactor keeps is no copy of the file: only the line still
    being edited, which the next bundle needs to find a secret typed across the cut."""
    accept(privacy_home, ingest.url)
    configure(privacy_home, **{"journal.segment_max_age_s": 1})
    session = Session(adapter="test", editor="pytest", workspace="/tmp/ws", locations=privacy_home)
    text = "the first paragraph of a private letter\nsecond line still being typed"
    for i, char in enumerate(text):
        if i == len(text) - 5:
            session.flush()
            time.sleep(1.1)  # the journal rotates in the middle of the second line
        session.record(Edit(file="/tmp/ws/a.py", diff=TextChange(range_offset=i, range_length=0, text=char)))
    session.flush()
    assert Uploader(privacy_home).run_once().sent == 1
    (state,) = (privacy_home.data_dir / "upload" / "redactors").glob("*.pickle")
    (document,) = pickle.loads(state.read_bytes())._documents.values()
    assert "".join(document.units).strip("\x00") == "second line still being "
    assert len(document.units) == len(text) - 5  # offsets stay valid: the rest is placeholders
    session.close()
    assert Uploader(privacy_home).run_once().sent == 1
    assert not state.exists()  # the session's last bundle built: its state goes


def test_panic_drops_bundles_built_but_not_sent(privacy_home: Locations, tmp_path: Path) -> None:
    """With a hold-back shorter than the panic's reach a bundle may already hold what the panic
    removes: an unsent one is dropped and built again from what the panic left."""
    server = make_ingest(tmp_path)
    try:
        accept(privacy_home, "http://127.0.0.1:9")  # nothing answers: bundles stay queued
        session = record(privacy_home, text="z")
        session.record(TerminalCommand(terminal_id="t1", terminal_name="bash", command="echo CANARY-wolf"))
        session.close()
        uploader = Uploader(privacy_home)
        uploader.run_once()
        queue = UploadQueue(privacy_home)
        assert len(queue.entries()) == 1
        assert "Traceback" not in run_cli("panic").stderr
        assert queue.entries() == []
        configure(privacy_home, **{"upload.url": server.url})
        assert Uploader(privacy_home).run_once().sent == 1
        stored = b"".join(b"".join(m.values()) for m in bundles_in(server))
        assert b"CANARY" not in stored and b'"kind":"panic"' in stored
    finally:
        server.close()
