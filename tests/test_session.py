"""The session recorder: ordering, threads, panic, registry, privacy of paths and files."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import orjson
import pytest

from crowdcode_sdk import (
    Edit,
    EditorInfo,
    FileOpen,
    Observation,
    Position,
    SchemaError,
    Session,
    Store,
    TabSwitch,
    TextChange,
    Viewport,
)
from crowdcode_sdk import panic as panic_button
from crowdcode_sdk.clock import Clock, MachineTime
from crowdcode_sdk.errors import CrowdcodeError, SessionClosed
from crowdcode_sdk.registry import live_sessions
from crowdcode_sdk.session import anonymize_path

from .conftest import run_cli


def _edit(n: int) -> Edit:
    """A keystroke into a.py at offset ``n`` (< 2,000): valid in any order once a.py is opened."""
    return Edit(file="a.py", diff=TextChange(range_offset=n, range_length=0, text="x"))


def _open(session: Session) -> None:
    """Open a.py with text enough for every ``_edit``, so that the session replays and verifies."""
    session.record(FileOpen(file="a.py", text="." * 2000))


class SteppedClock(Clock):
    """A clock the test moves by hand, so that panic reaches are exact."""

    def __init__(self, start: int) -> None:
        self.now = start

    def now_ms(self) -> int:
        return self.now


def test_metadata_and_session_file(home, tmp_path):
    workspace = tmp_path / "project"
    workspace.mkdir()
    with Session(
        adapter="test", editor=EditorInfo(name="demo", version="1.2", host="Cursor"), workspace=workspace
    ) as s:
        meta = s.metadata
    assert meta.schema_version == "1.0" and meta.adapter == "test" and meta.editor.host == "Cursor"
    assert meta.workspace.name == "project" and len(meta.workspace.id) == 16
    stored = orjson.loads((s.directory / "session.json").read_bytes())
    assert stored["metadata"]["sessionId"] == s.id
    assert str(tmp_path) not in (s.directory / "session.json").read_text()  # no absolute path leaves
    assert stored["eventCount"] == 2 and stored["endReason"] == "closed"


def test_sequences_strictly_increase_across_threads(home):
    with Session(adapter="test", editor="threads") as session:
        _open(session)

        def worker():
            for n in range(2000):
                session.record(_edit(n))

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    events = list(Store().events(Store().find("latest")))
    assert [e.sequence for e in events] == list(range(1, 8 * 2000 + 4))
    timestamps = [e.timestamp for e in events]
    assert timestamps == sorted(timestamps)


def test_timestamps_follow_the_monotonic_clock_when_the_wall_clock_jumps(monkeypatch):
    clock = Clock()
    before = clock.now_ms()
    real = time.time_ns
    monkeypatch.setattr(time, "time_ns", lambda: real() - 3600 * 10**9)  # NTP moves us back an hour
    after = clock.now_ms()
    assert 0 <= after - before < 1000


def test_observations_are_recorded_only_when_changed(home):
    view = Viewport(
        file="a.py", start_line=1, end_line=2, content="a\nb", cursor_position=Position(line=0, character=0)
    )
    with Session(adapter="test", editor="obs") as s:
        assert s.observe(viewport=view) is not None
        assert s.observe(viewport=view) is None
        assert s.observe() is not None
        assert isinstance(s.observe(viewport=view).payload, Observation)


def test_garbage_from_an_adapter_is_rejected_and_the_session_goes_on(home):
    with Session(adapter="test", editor="garbage") as s:
        for bad in (
            None,
            [],
            {"kind": "edit"},
            {"kind": "edit", "file": "a", "diff": {"rangeOffset": "x"}},
            {"kind": "nope"},
            {"kind": "file_open", "file": "a", "extra": 1},
        ):
            with pytest.raises(SchemaError):
                s.record_wire(bad)
        event = s.record_wire({"kind": "file_open", "file": "a.py"})
    assert event.sequence == 2
    assert [e.kind for e in Store().events(Store().find("latest"))] == ["session_start", "file_open", "session_end"]


def test_recording_into_a_closed_session_raises(home):
    s = Session(adapter="test", editor="closed")
    s.close()
    with pytest.raises(SessionClosed):
        s.record(FileOpen(file="a"))
    s.close()  # closing twice is harmless


def test_paths_in_events_are_relative_or_anonymized(home, tmp_path):
    with Session(adapter="test", editor="paths", workspace=tmp_path) as s:
        assert s.relpath(tmp_path / "src" / "a.py") == "src/a.py"
        assert s.relpath(Path.home() / "notes.txt") == "~/notes.txt"
        assert s.relpath("rel/x.py") == "rel/x.py"
    assert anonymize_path(Path.home()) == "~"


def test_panic_escalates_within_three_seconds(locations):
    def at(ms: int, boot: str = "boot-1") -> MachineTime:
        return MachineTime(ms, boot)

    first = panic_button.press(locations, at(100_000))
    second = panic_button.press(locations, at(102_500))
    third = panic_button.press(locations, at(105_000))
    later = panic_button.press(locations, at(108_001))
    assert (first.presses, first.cutoff) == (1, at(90_000))
    assert (second.presses, second.cutoff) == (2, at(82_500))
    assert (third.presses, third.cutoff) == (3, at(75_000))
    assert (later.presses, later.cutoff) == (1, at(98_001))
    rebooted = panic_button.press(locations, at(109_000, "boot-2"))  # the same clock reading, a new boot
    assert (rebooted.presses, rebooted.cutoff) == (1, at(99_000, "boot-2"))


def test_panic_removes_from_memory_and_disk_and_sequences_continue(home):
    config_path = home / "config.toml"
    home.mkdir(parents=True, exist_ok=True)
    config_path.write_text("[journal]\nsegment_max_bytes = 4096\nflush_interval_ms = 5\n")
    s = Session(adapter="test", editor="panic")
    _open(s)
    clock = SteppedClock(s.metadata.start_time)
    s._clock = clock
    for n in range(300):  # one event every 100 ms, over several segments
        clock.now += 100
        s.record(_edit(n))
    s.flush()
    assert len(list(s.directory.glob("events-*.jsonl"))) > 2
    start = s.metadata.start_time
    clock.now += 100
    removed = s.remove_since(clock.now - 10_000)  # the last 10 s: 100 events
    assert removed == 100
    clock.now += 100
    after = s.record(_edit(999))
    s.close()
    events = list(Store().events(Store().find(s.id)))
    edits = [e for e in events if e.kind == "edit"]
    assert len(edits) == 201
    assert all(e.timestamp < start + 20_100 for e in edits[:-1])
    panic = next(e for e in events if e.kind == "panic")
    assert panic.sequence == 303 and panic.payload.gap_start == start + 20_100
    assert after.sequence == 304  # sequence numbers were not reused
    raw = b"".join(p.read_bytes() for p in sorted(s.directory.glob("events-*.jsonl")))
    assert b'"rangeOffset":250' not in raw  # gone from disk, not only from the reader's view


def test_the_panic_gap_ends_at_the_cut_not_after_slow_hooks(home):
    s = Session(adapter="test", editor="panic")
    cut = s.metadata.start_time + 60_000
    clock = SteppedClock(cut)
    s._clock = clock

    def slow_hook(cutoff: int) -> None:  # rewriting a large raw stream takes a while
        clock.now += 300

    s.add_panic_hook(slow_hook)
    s.remove_since(cut - 10_000)
    s.close()
    panic = next(e for e in Store().events(Store().find(s.id)) if e.kind == "panic")
    assert (panic.payload.gap_start, panic.payload.gap_end) == (cut - 10_000, cut)
    assert panic.timestamp == cut + 300  # the marker itself comes after the hooks: times never decrease


def test_panic_keeps_the_session_start(home):
    with Session(adapter="test", editor="panic") as s:
        s.record(_edit(1))
        report = s.panic(everywhere=False)
    assert report.presses == 1 and report.removed == 1
    kinds = [e.kind for e in Store().events(Store().find(s.id))]
    assert kinds == ["session_start", "panic", "session_end"]


def test_sessions_are_private(home):
    with Session(adapter="test", editor="perm") as s:
        _open(s)
        s.record(_edit(1))
        s.flush()
        live = home / "run" / "live"
        assert live.stat().st_mode & 0o777 == 0o700
    for directory in (home / "data", home / "data" / "sessions", s.directory, home / "run"):
        assert directory.stat().st_mode & 0o777 == 0o700, directory
    for path in s.directory.iterdir():
        assert path.stat().st_mode & 0o777 == 0o600, path


LIVE_RECORDER = textwrap.dedent(
    """
    import sys, time
    from crowdcode_sdk import Session, Edit, TextChange
    session = Session(adapter="test", editor="live")
    session.publish(cwd="/somewhere", foreground={"command": "claude", "agent": "claude"})
    for n in range(5):
        session.record(Edit(file="a.py", diff=TextChange(range_offset=n, range_length=0, text="x")))
    print(session.id, flush=True)
    sys.stdin.readline()
    session.close()
    """
)


def test_a_live_session_in_another_process_is_listed_and_reached_by_crowdcode_panic(home):
    proc = subprocess.Popen(
        [sys.executable, "-c", LIVE_RECORDER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "CROWDCODE_HOME": str(home)},
    )
    assert proc.stdout is not None and proc.stdin is not None
    session_id = proc.stdout.readline().strip()
    try:
        (entry,) = live_sessions(__import__("crowdcode_sdk").Locations.default())
        assert entry["sessionId"] == session_id and entry["foreground"]["agent"] == "claude"
        status = orjson.loads(run_cli("status", "--json").stdout)
        assert status["live"][0]["sessionId"] == session_id and status["live"][0]["events"] == 6
        assert "Removed 5 events" in run_cli("panic").stdout
        proc.stdin.write("\n")  # the recorder closes its session and exits
        proc.stdin.flush()
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:  # cleanup after a failed assertion: a kill is not a quit
            proc.kill()
            proc.wait()
    kinds = [e.kind for e in Store().events(Store().find(session_id))]
    assert kinds == ["session_start", "panic", "session_end"]
    assert live_sessions(__import__("crowdcode_sdk").Locations.default()) == []


def test_only_sealed_segments_older_than_the_hold_back_window_are_eligible(home):
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text("[journal]\nsegment_max_bytes = 4096\nflush_interval_ms = 5\n")
    s = Session(adapter="test", editor="holdback")
    _open(s)
    clock = SteppedClock(s.metadata.start_time)
    s._clock = clock
    for n in range(200):
        clock.now += 1000
        s.record(_edit(n))
    s.flush()
    store = Store()
    info = store.find(s.id)
    segments = sorted(s.directory.glob("events-*.jsonl"))
    assert len(segments) > 3
    everything = store.eligible_segments(info, clock.now + 1)
    assert everything == segments[:-1]  # the writer's open segment never leaves while live
    half = store.eligible_segments(info, s.metadata.start_time + 100_000)
    assert 0 < len(half) < len(everything)
    for path in half:  # every event in an eligible segment is older than the cutoff
        assert all(
            orjson.loads(line)["timestamp"] < s.metadata.start_time + 100_000 for line in path.read_bytes().splitlines()
        )
    s.close()
    assert store.eligible_segments(store.find(s.id), clock.now + 10_000) == sorted(s.directory.glob("events-*.jsonl"))


def test_an_unusable_data_directory_is_one_clear_error(home):
    home.mkdir(parents=True)
    (home / "data").write_text("not a directory")
    with pytest.raises(CrowdcodeError, match=r"cannot record into .*: Not a directory"):
        Session(adapter="test", editor="broken")
    result = run_cli("sessions", check=False)  # reading commands say so too, without a traceback
    assert "Traceback" not in result.stderr


def test_a_listener_sees_every_event_and_may_record_a_follow_up(home):
    seen = []
    with Session(adapter="test", editor="listen") as s:

        def listener(event):
            seen.append(event.sequence)
            if event.kind == "file_open":
                s.record(TabSwitch(file=event.payload.file))

        s.add_listener(listener)
        s.record(FileOpen(file="a.py"))
    assert seen == [2, 3, 4]  # file_open, the follow-up tab_switch, session_end
    kinds = [e.kind for e in Store().events(Store().find(s.id))]
    assert kinds == ["session_start", "file_open", "tab_switch", "session_end"]


def test_hold_back_and_panic_measure_on_the_machine_clock_across_suspend_and_reboot(home, locations):
    """The machine's clock injected: asleep, the monotonic clock stands still while the wall clock
    runs on; after a reboot it starts again from zero with a new boot id."""
    from crowdcode_sdk.session import panic_everywhere
    from crowdcode_sdk.upload.prepare import eligible

    s = Session(adapter="test", editor="suspend")
    s.close()
    info = Store().find(s.id)
    assert info.anchor is not None and info.anchor.at.boot
    started = info.anchor.at
    ended = started.monotonic_ms + (info.end - info.anchor.wall_ms)
    hold_back = 900_000

    def ready(now: MachineTime) -> bool:
        return any(work.final for work in eligible(locations, now, hold_back, covered=set()))

    # An hour asleep right after the session ended: the wall clock says it is an hour old, but
    # the person could not press panic meanwhile; it leaves 900 s of waking time after its end.
    woke = MachineTime(ended + 2_000, started.boot)
    assert not ready(woke)
    assert not ready(MachineTime(ended + hold_back - 1, started.boot))
    assert ready(MachineTime(ended + hold_back + 1, started.boot))
    # Rebooted: an earlier boot's session is at least as old as this boot's uptime.
    assert not ready(MachineTime(5_000, "another-boot"))
    assert ready(MachineTime(hold_back + 1, "another-boot"))

    # A panic pressed 5 s after the session ended, then one 11 s after another press (outside the
    # escalation window): the first reaches the session's last events, the second does not.
    before = sum(1 for _ in Store().events(info))
    assert panic_everywhere(locations, MachineTime(ended + 5_000, started.boot)).removed >= 1
    after_first = Store().find(s.id)
    assert after_first.end is not None
    later = MachineTime(ended + 5_000 + 3_001 + 20_000, started.boot)
    assert panic_everywhere(locations, later).removed == 0
    events = list(Store().events(Store().find(s.id)))
    assert [e.kind for e in events].count("panic") == 1 and len(events) <= before


def test_a_session_that_ends_while_it_is_listed_is_not_taken_for_crashed(home, monkeypatch):
    """The recorder writes its end into the session file, then unlocks: a listing that sees the
    lock free sees that end. Here the session ends at the moment the listing checks the lock."""
    from crowdcode_sdk import journal
    from crowdcode_sdk.store import Store

    session = Session(adapter="test", editor="test")
    real_is_live = journal.is_live

    def ends_now(directory):
        if not session.closed:
            session.close()
        return real_is_live(directory)

    monkeypatch.setattr(journal, "is_live", ends_now)
    (info,) = Store().sessions()
    assert info.end is not None and info.end_reason != "crashed", info
