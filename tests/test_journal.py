"""The journal: torn-line recovery, rotation, crash safety, a failing disk, permissions."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import orjson
import pytest

from crowdcode_sdk import journal
from crowdcode_sdk.journal import JournalPolicy, JournalWriter
from crowdcode_sdk.store import Store


def _line(seq: int, ts: int | None = None) -> bytes:
    return orjson.dumps(
        {
            "sequence": seq,
            "timestamp": ts if ts is not None else 1000 + seq,
            "type": "action",
            "action": {"kind": "file_open", "source": "user", "file": f"f{seq}.py"},
        }
    )


def _write(directory: Path, lines: list[bytes], **policy) -> None:
    writer = JournalWriter(directory, JournalPolicy(**policy))
    for line in lines:
        writer.append(line)
    writer.close()


def test_a_torn_final_line_is_dropped_at_every_byte_offset(tmp_path):
    lines = [_line(i) for i in range(1, 6)]
    complete = b"".join(line + b"\n" for line in lines[:-1])
    last = lines[-1] + b"\n"
    for cut in range(len(last)):  # every proper prefix of the last line, including the empty one
        directory = tmp_path / f"cut{cut}"
        directory.mkdir()
        (directory / journal.segment_name(1)).write_bytes(complete + last[:cut])
        assert list(journal.read_lines(directory)) == lines[:-1]
        journal.repair(directory)
        assert (directory / journal.segment_name(1)).read_bytes() == complete
    directory = tmp_path / "whole"
    directory.mkdir()
    (directory / journal.segment_name(1)).write_bytes(complete + last)
    assert list(journal.read_lines(directory)) == lines
    assert journal.repair(directory) == 0


def test_segments_rotate_by_size_and_by_age(tmp_path):
    lines = [_line(i) for i in range(1, 201)]
    _write(tmp_path / "size", lines, segment_max_bytes=4096, flush_interval_ms=1)
    by_size = journal.segments(tmp_path / "size")
    assert len(by_size) > 3
    assert all(p.stat().st_size <= 4096 for p in by_size)
    assert list(journal.read_lines(tmp_path / "size")) == lines

    writer = JournalWriter(tmp_path / "age", JournalPolicy(segment_max_age_s=1, flush_interval_ms=10))
    writer.append(lines[0])
    writer.flush()
    time.sleep(1.1)
    writer.append(lines[1])
    writer.close()
    assert len(journal.segments(tmp_path / "age")) == 2
    assert list(journal.read_lines(tmp_path / "age")) == lines[:2]


@pytest.mark.parametrize("policy", ["always", "interval", "never"])
def test_every_fsync_policy_keeps_every_event(tmp_path, policy):
    lines = [_line(i) for i in range(1, 500)]
    _write(tmp_path, lines, fsync=policy, flush_interval_ms=5)
    assert list(journal.read_lines(tmp_path)) == lines


def test_files_are_private(tmp_path):
    _write(tmp_path / "s", [_line(1)])
    assert (tmp_path / "s").stat().st_mode & 0o777 == 0o700
    for path in (tmp_path / "s").iterdir():
        assert path.stat().st_mode & 0o777 == 0o600, path


def test_one_writer_per_directory(tmp_path):
    writer = JournalWriter(tmp_path)
    try:
        assert journal.is_live(tmp_path)
        with pytest.raises(RuntimeError, match="already has a writer"):
            JournalWriter(tmp_path)
    finally:
        writer.close()
    assert not journal.is_live(tmp_path)


def test_truncate_since_cuts_across_segments(tmp_path):
    lines = [_line(i, ts=i * 10) for i in range(1, 101)]
    _write(tmp_path, lines, segment_max_bytes=4096, flush_interval_ms=1)
    assert len(journal.segments(tmp_path)) > 2
    removed = journal.truncate_since(tmp_path, 335)  # events 34.. have ts >= 340
    assert removed == 67
    assert list(journal.read_lines(tmp_path)) == lines[:33]


RECORDER = textwrap.dedent(
    """
    import sys, resource, signal
    from crowdcode_sdk import Session, Edit, FileOpen, TextChange
    mode = sys.argv[1]
    problems = []
    def report(message):
        problems.append(message)
        print("PROBLEM", message, flush=True)
    session = Session(adapter="test", editor="crash-test", on_problem=report)
    print("SESSION", session.id, flush=True)
    session.record(FileOpen(file="a.py", text=""))  # typed at its start: the edits replay whichever a full disk loses
    n = 0
    def record(count):
        global n
        for _ in range(count):
            n += 1
            session.record(Edit(file="a.py", diff=TextChange(range_offset=0, range_length=0, text="x")))
    if mode == "kill":
        while True:
            record(500)
            print("RECORDED", n, flush=True)
    elif mode == "full":
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, hard))
        while not problems:
            record(200)
        record(2000)  # recording goes on while the "disk" is full: nothing raises
        resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
        import time
        time.sleep(0.5)
        record(10)
        session.close()
        print("DONE", n, flush=True)
    """
)


def _recorder(mode: str, home: Path, config: str) -> subprocess.Popen[str]:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(config)
    return subprocess.Popen(
        [sys.executable, "-c", RECORDER, mode],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "CROWDCODE_HOME": str(home)},
    )


def test_kill_9_loses_at_most_the_last_flush_interval(home):
    interval_ms = 100
    proc = _recorder("kill", home, f"[journal]\nflush_interval_ms = {interval_ms}\n")
    reports: list[tuple[float, int]] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("RECORDED"):
            reports.append((time.monotonic(), int(line.split()[1])))
            if reports[-1][1] >= 20_000:
                break
    time.sleep(1.5)
    killed_at = time.monotonic()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # Events recorded more than one flush interval (plus generous scheduling slack: CI machines
    # are loaded) before the kill are safe.
    safe = max(seq for at, seq in reports if at <= killed_at - interval_ms / 1000 - 1.0)
    (info,) = Store().sessions()
    assert info.end_reason == "crashed"
    sequences = [orjson.loads(line)["sequence"] for line in Store().lines(info)]
    assert sequences == list(range(1, len(sequences) + 1))  # contiguous, no torn or duplicate line
    assert len(sequences) - 2 >= safe  # minus the session_start and file_open events
    assert info.event_count == len(sequences)


def test_a_full_disk_suspends_recording_and_it_resumes_with_a_gap_marker(home):
    proc = _recorder("full", home, "[journal]\nflush_interval_ms = 20\nmax_buffered_events = 100\n")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert "PROBLEM recording suspended: File too large" in out
    assert "PROBLEM recording resumed" in out
    (info,) = Store().sessions()
    events = list(Store().events(info))
    sequences = [e.sequence for e in events]
    assert sequences == sorted(set(sequences))  # strictly increasing
    gaps = [e.payload for e in events if e.kind == "recording_gap"]
    assert len(gaps) == 1 and gaps[0].lost_events > 0
    # The lost events' sequence numbers are missing, never reused: exactly the gap's size.
    assert sequences[-1] - len(sequences) == gaps[0].lost_events
    recorded = int(out.split("DONE")[1])
    edits = sum(1 for e in events if e.kind == "edit")
    assert edits + gaps[0].lost_events == recorded  # every event is either stored or counted as lost
    assert events[-1].kind == "session_end"
