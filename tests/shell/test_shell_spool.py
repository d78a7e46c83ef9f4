"""The recorder's spool (:mod:`crowdcode_shell.spool`) with a real pipe and real files: every
frame arrives once and in order, a flood is deferred until it calms down (at most
``MAX_DEFER_S``), and a spool that stops being writable loses nothing."""

from __future__ import annotations

import hashlib
import os
import resource
import select
import threading
import time
from pathlib import Path

import orjson
import pytest
from crowdcode_shell import abandoned, channel, recording, spool

from crowdcode_sdk.terminal_spools import FRAME_HEADER


def _frames(count: int, size: int) -> list[tuple[bytes, bytes]]:
    """Output of distinct bytes with an input frame now and then."""
    frames = []
    for i in range(count):
        frames.append((channel.OUTPUT, hashlib.sha256(b"%d" % i).digest() * (size // 32)))
        if i % 50 == 0:
            frames.append((channel.INPUT, b"key %d" % i))
    return frames


def _send(w: int, frames: list[tuple[bytes, bytes]]) -> None:
    writer = channel.ChannelWriter(w)
    for kind, data in frames:
        writer.send(kind, data)
        writer.flush()
    writer.close()


def _by_kind(frames: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Consecutive output joined (the recorder merges output frames close in time)."""
    joined: list[tuple[bytes, bytes]] = []
    for kind, data in frames:
        if joined and kind == channel.OUTPUT == joined[-1][0]:
            joined[-1] = (kind, joined[-1][1] + data)
        else:
            joined.append((kind, data))
    return joined


def test_every_frame_is_handled_once_in_order_and_the_spool_is_removed(tmp_path: Path) -> None:
    sent = _frames(3000, 4096)  # 12 MB: floods and calm alike
    r, w = channel.pipe()
    writer = threading.Thread(target=_send, args=(w, sent))
    writer.start()
    handled: list[tuple[bytes, bytes]] = []
    problems: list[str] = []
    path = tmp_path / "t.spool"
    spool.pump(r, spool.Spool.create(path), lambda f: handled.append((f.kind, bytes(f.data))), problems.append)
    writer.join()
    os.close(r)
    assert _by_kind(handled) == _by_kind(sent)
    assert not problems
    assert not path.exists()


def test_a_flood_is_deferred_until_it_calms_and_then_handled() -> None:
    t = 100.0
    flood = spool.Flood(t)
    assert not flood.defers(t)
    for _ in range(40):  # 40 windows of 1 MiB each: a flood, deferred
        t += spool.WINDOW_S
        flood.arrived(1 << 20, t)
        assert flood.defers(t)
    flood.calm(t + spool.WINDOW_S)  # a whole window without output
    assert not flood.defers(t + spool.WINDOW_S)

    typing = spool.Flood(t)
    for _ in range(100):  # a key every window: far below a flood's rate
        t += spool.WINDOW_S
        typing.arrived(1, t)
        assert not typing.defers(t)


def test_a_flood_counts_as_one_as_soon_as_a_window_holds_more_than_a_floods_bytes() -> None:
    flood = spool.Flood(0.0)
    flood.arrived(spool.FLOOD_BYTES - 1, spool.WINDOW_S / 10)
    assert not flood.defers(spool.WINDOW_S / 10)
    flood.arrived(1, spool.WINDOW_S / 5)  # a fifth of the window in: a flood already
    assert flood.defers(spool.WINDOW_S / 5)


def test_a_long_flood_is_deferred_at_most_max_defer() -> None:
    t = 0.0
    flood = spool.Flood(t)
    deferred = []
    while t < 2 * spool.MAX_DEFER_S:
        t += spool.WINDOW_S
        flood.arrived(1 << 20, t)
        deferred.append(flood.defers(t))
    windows = round(spool.MAX_DEFER_S / spool.WINDOW_S)
    assert all(deferred[: windows - 1]) and not any(deferred[windows + 1 :])


def test_at_the_start_silence_and_the_first_output_decide_when_the_recorder_sets_up() -> None:
    """The recorder's own start is deferred like a flood: until the first window of output has been
    measured, and before any output until ``QUIET_START_S`` has passed without any."""
    t = 50.0
    quiet = spool.Flood(t, at_start=True)
    assert quiet.defers(t)
    quiet.calm(t + spool.WINDOW_S)  # a program starting up writes nothing for a window: no calm yet
    assert quiet.defers(t + spool.WINDOW_S)
    quiet.calm(t + spool.QUIET_START_S)  # still nothing: the terminal is calm
    assert not quiet.defers(t + spool.QUIET_START_S)

    prompt = spool.Flood(t, at_start=True)
    prompt.arrived(40, t + 0.03)  # a prompt, then a window of nothing
    prompt.calm(t + 0.03 + spool.WINDOW_S)
    assert not prompt.defers(t + 0.03 + spool.WINDOW_S)

    flood = spool.Flood(t, at_start=True)
    at = t + 0.2  # after a pause that counts for nothing: the first window starts with the output
    flood.arrived(60 << 10, at)
    for _ in range(10):
        at += spool.WINDOW_S
        flood.arrived(1 << 20, at)
        assert flood.defers(at)


def _pump_preparing(
    r: int,
    the_spool: spool.Spool,
    handled: list[channel.Frame | None],
    prepared: threading.Event,
    hurry: int | None = None,
) -> threading.Thread:
    """``pump`` at the recorder's start, on a thread: ``prepared`` is set when it sets up, and the
    frames handled (``None`` for one handled before the set-up) go to ``handled``."""

    def handle(frame: channel.Frame) -> None:
        handled.append(frame if prepared.is_set() else None)

    def prepare() -> None:
        prepared.set()

    thread = threading.Thread(
        target=spool.pump,
        args=(r, the_spool, handle, print, spool.Flood(time.monotonic(), at_start=True)),
        kwargs={"prepare": prepare, "hurry": hurry},
    )
    thread.start()
    return thread


def test_a_flood_at_the_start_is_taken_before_the_recorder_sets_up(tmp_path: Path) -> None:
    """900 KB of output in the pipe, then the end: all of it is in the spool before the recorder
    sets up, and then handled, in order. The spool has no name meanwhile, so a recorder that dies
    before its session exists leaves nothing behind."""
    sent = _frames(12, 60 << 10)
    r, w = channel.pipe()
    _send(w, sent)  # the pipe holds it all (in 16 of its 256 pages each)
    the_spool = spool.Spool.unnamed(tmp_path)
    handled: list[channel.Frame] = []
    prepared = threading.Event()
    backlog_at_set_up: list[int] = []

    def prepare() -> None:
        backlog_at_set_up.append(the_spool.backlog)
        prepared.set()

    spool.pump(
        r,
        the_spool,
        handled.append,
        print,
        spool.Flood(time.monotonic(), at_start=True),
        prepare=prepare,
    )
    os.close(r)
    assert os.listdir(tmp_path) == []
    size = sum(FRAME_HEADER.size + len(data) for _, data in sent)
    assert backlog_at_set_up == [size]  # everything was taken first, once
    assert _by_kind([(f.kind, bytes(f.data)) for f in handled]) == _by_kind(sent)


def test_an_unnamed_spool_gets_its_name_with_what_it_holds_and_loses_it_when_closed(tmp_path: Path) -> None:
    the_spool = spool.Spool.unnamed(tmp_path)
    r, w = channel.pipe()
    _send(w, [(channel.OUTPUT, b"before the session")])
    assert the_spool.take(r) > 0
    assert os.listdir(tmp_path) == []
    terminals = tmp_path / "s" / "terminals"
    terminals.mkdir(parents=True)
    the_spool.name(terminals / "term-1.spool")
    assert (terminals / "term-1.spool").stat().st_mode & 0o777 == 0o600
    assert b"before the session" in (terminals / "term-1.spool").read_bytes()
    assert [bytes(f.data) for f in the_spool.frames()] == [b"before the session"]
    the_spool.close()
    os.close(r)
    assert os.listdir(terminals) == []


def test_a_set_up_that_fails_is_not_taken_for_a_failing_spool(tmp_path: Path) -> None:
    """The session cannot be made (its directory is not writable): that error ends the recorder,
    as it says; the spool, which works, is not blamed and is gone."""
    r, w = channel.pipe()
    _send(w, [(channel.OUTPUT, b"$ ")])
    problems: list[str] = []

    def prepare() -> None:
        raise PermissionError(13, "Permission denied")

    with pytest.raises(PermissionError):
        spool.pump(r, spool.Spool.unnamed(tmp_path), print, problems.append, prepare=prepare)
    os.close(r)
    assert problems == []
    assert os.listdir(tmp_path) == []


def test_calm_output_at_the_start_sets_the_recorder_up_at_once(tmp_path: Path) -> None:
    r, w = channel.pipe()
    writer = channel.ChannelWriter(w)
    handled: list[channel.Frame | None] = []
    prepared = threading.Event()
    pump = _pump_preparing(r, spool.Spool.create(tmp_path / "s"), handled, prepared)
    writer.send(channel.OUTPUT, b"$ ")  # a prompt, and the channel stays open
    assert prepared.wait(timeout=30)
    writer.close()
    pump.join()
    os.close(r)
    assert [f and bytes(f.data) for f in handled] == [b"$ "]


def test_a_silent_program_has_the_recorder_set_up_after_quiet_start(tmp_path: Path) -> None:
    r, w = channel.pipe()
    handled: list[channel.Frame | None] = []
    prepared = threading.Event()
    started = time.monotonic()
    pump = _pump_preparing(r, spool.Spool.create(tmp_path / "s"), handled, prepared)
    assert prepared.wait(timeout=30)
    assert time.monotonic() - started >= spool.QUIET_START_S
    os.close(w)
    pump.join()
    os.close(r)
    assert handled == []


def test_keys_waiting_end_the_deferral_of_the_set_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A flood that goes on (for a minute, were it deferred that long): the wrapper tells the
    recorder that the user's keys wait, and the recorder sets up while the flood still runs."""
    monkeypatch.setattr(spool, "MAX_DEFER_S", 60.0)
    r, w = channel.pipe()
    hurry_r, hurry_w = os.pipe()
    handled: list[channel.Frame | None] = []
    prepared = threading.Event()
    stop = threading.Event()

    def flood() -> None:
        writer = channel.ChannelWriter(w)
        while not stop.is_set():
            writer.send(channel.OUTPUT, b"y\n" * 32768)
            select.select([], [w], [], 1)
            writer.flush()
        writer.close()

    flooding = threading.Thread(target=flood)
    flooding.start()
    pump = _pump_preparing(r, spool.Spool.create(tmp_path / "s"), handled, prepared, hurry=hurry_r)
    try:
        time.sleep(0.5)
        os.write(hurry_w, b"k")
        assert prepared.wait(timeout=30)
    finally:
        stop.set()
        flooding.join()
        pump.join()
    for fd in (r, hurry_r, hurry_w):
        os.close(fd)
    assert handled and None not in handled  # every frame handled after the set-up
    assert {f.kind for f in handled if f} == {channel.OUTPUT}
    assert set(b"".join(f.data for f in handled if f)) == set(b"y\n")


def test_calm_output_is_handled_at_once(tmp_path: Path) -> None:
    """A key's echo is handled while the pipe stays open: nothing waits for a flood to end."""
    r, w = channel.pipe()
    writer = channel.ChannelWriter(w)
    handled = threading.Event()

    def handle(frame: channel.Frame) -> None:
        if frame.data == b"x":
            handled.set()

    pump = threading.Thread(target=spool.pump, args=(r, spool.Spool.create(tmp_path / "s"), handle, print))
    pump.start()
    writer.send(channel.OUTPUT, b"x")
    assert handled.wait(timeout=10)
    writer.close()
    pump.join()
    os.close(r)


def test_the_pump_is_drained_only_once_every_frame_written_is_handled(tmp_path: Path) -> None:
    """What a terminal answers the owner's ``caught_up`` with: while a frame waits in the pipe or
    the spool, or is being handled, the pump is not drained; once it waits with nothing left, it
    is. Without a spool it cannot tell."""
    r, w = channel.pipe()
    writer = channel.ChannelWriter(w)
    the_spool = spool.Spool.create(tmp_path / "s")
    progress = spool.Progress(r, the_spool)
    entered, release = threading.Event(), threading.Event()
    handled: list[bytes] = []

    def handle(frame: channel.Frame) -> None:
        entered.set()
        assert release.wait(timeout=10)
        handled.append(frame.data)

    pump = threading.Thread(
        target=spool.pump, args=(r, the_spool, handle, print), kwargs={"progress": progress}, daemon=True
    )
    pump.start()
    for data in (b"x", b"y"):
        writer.send(channel.OUTPUT, data)
        for _ in range(200):  # in the pipe, in the spool, or being handled: never drained
            assert progress.drained() is False
            if entered.is_set():
                break
            time.sleep(0.005)
        assert entered.wait(timeout=10)
        assert progress.drained() is False
        release.set()
        deadline = time.monotonic() + 10
        while not progress.drained():
            assert time.monotonic() < deadline, "never drained"
            time.sleep(0.005)
        assert handled[-1] == data
        entered.clear()
        release.clear()
    release.set()
    writer.close()
    pump.join(timeout=10)
    os.close(r)
    assert spool.Progress(r, None).drained() is None


def test_a_spool_that_cannot_be_written_loses_nothing(tmp_path: Path) -> None:
    """A real write failure: the recorder's file size limit (``RLIMIT_FSIZE``) stops the spool
    after 1 MiB, mid-frame; the rest of the session is read from the pipe directly."""
    sent = _frames(1500, 4096)
    r, w = channel.pipe()
    result_r, result_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the recorder
        try:
            os.close(w)
            resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, resource.RLIM_INFINITY))
            handled: list[tuple[bytes, bytes]] = []
            problems: list[str] = []
            spool.pump(
                r,
                spool.Spool.create(tmp_path / "s"),
                lambda f: handled.append((f.kind, bytes(f.data))),
                problems.append,
            )
            digest = hashlib.sha256(orjson.dumps([[k.decode(), d.hex()] for k, d in _by_kind(handled)])).hexdigest()
            os.write(result_w, orjson.dumps({"digest": digest, "problems": problems}))
        finally:
            os._exit(0)
    os.close(r)
    os.close(result_w)
    _send(w, sent)
    os.waitpid(pid, 0)
    result = orjson.loads(os.read(result_r, 1 << 20))
    os.close(result_r)
    expected = hashlib.sha256(orjson.dumps([[k.decode(), d.hex()] for k, d in _by_kind(sent)])).hexdigest()
    assert result["digest"] == expected
    assert len(result["problems"]) == 1 and "spool failed" in result["problems"][0]


def test_a_flood_waits_in_the_spool_at_most_max_defer_bytes(tmp_path: Path, monkeypatch) -> None:
    """However fast the flood, what waits in the spool stays near the bound (here 2 MiB)."""
    monkeypatch.setattr(spool, "MAX_DEFER_BYTES", 2 << 20)
    sent = [(channel.OUTPUT, bytes([65 + i % 26]) * 65536) for i in range(640)]  # 40 MiB
    r, w = channel.pipe()
    writer = threading.Thread(target=_send, args=(w, sent))
    the_spool = spool.Spool.create(tmp_path / "s")
    waiting: list[int] = []
    handled: list[bytes] = []

    def handle(frame: channel.Frame) -> None:
        waiting.append(the_spool.backlog)
        handled.append(bytes(frame.data))

    writer.start()
    spool.pump(r, the_spool, handle, print)
    writer.join()
    os.close(r)
    assert b"".join(handled) == b"".join(data for _, data in sent)
    assert max(waiting) <= (2 << 20) + 2 * spool.SLICE


def test_a_dead_recorders_spool_is_added_to_its_cast(home: Path) -> None:
    """What a recorder killed mid-flood leaves: a cast whose last line is torn and a spool with
    frames it had handled (in the cast already) and frames it had not. The next recorder's
    recovery keeps the cast's whole events, adds only the frames after them, and removes the
    spool."""
    from crowdcode_shell import abandoned
    from crowdcode_shell.asciicast import CastHeader, CastWriter, read_cast, read_output

    from crowdcode_sdk import Locations

    terminals = Locations.default().sessions_dir / "0123abcd" / "terminals"
    terminals.mkdir(parents=True)
    cast_path = terminals / "term-1.cast"
    writer = CastWriter(cast_path, CastHeader(80, 24, 0, start_monotonic=100.0), 100.0)
    writer.output(100.5, b"handled")
    writer.close()
    with open(cast_path, "ab") as f:
        f.write(b'[0.7, "o", "torn')  # killed mid-write
    frames = [(100.5, b"handled"), (101.0, b"not yet handled"), (101.5, b"the last")]
    spool_bytes = b""
    for at, data in frames:
        spool_bytes += channel._HEADER.pack(channel.OUTPUT, len(data), at) + data
    (terminals / "term-1.spool").write_bytes(spool_bytes + spool_bytes[:5])  # and half a frame
    problems: list[str] = []
    assert abandoned.recover_all(Locations.default(), problems.append, session="fedc9876") == 0  # export of another
    assert (terminals / "term-1.spool").exists()
    assert abandoned.recover_all(Locations.default(), problems.append, session="0123abcd") == 1
    assert not problems
    assert not (terminals / "term-1.spool").exists()
    _, events = read_cast(cast_path)
    assert len(cast_path.read_bytes().splitlines()) == len(events) + 1
    assert [data for _, data in read_output(cast_path)] == [b"handled", b"not yet handled", b"the last"]
    assert [e[2] for e in events if e[1] == "m"] == ["crowdcode: recovered from the spool of a recorder that died"]


def test_a_dead_recorders_frames_inside_a_panic_are_not_recovered(home: Path) -> None:
    """Frames a recorder took into its spool after its panic hook ran (it skips them when their
    turn comes) and then died: the recovery reads the journal's panic marker and leaves them out."""
    from crowdcode_shell import abandoned
    from crowdcode_shell.asciicast import CastHeader, CastWriter, read_output

    from crowdcode_sdk import Locations, Session

    session = Session(adapter="shell", editor="bash")
    anchor = session._clock.anchor
    assert anchor is not None
    start_s = anchor.at.monotonic_ms / 1000  # the session's start on the frames' clock
    while session.now_ms() < session.metadata.start_time + 600:
        time.sleep(0.05)
    session.remove_since(session.metadata.start_time + 200)  # a panic: its gap runs from 0.2 s to now
    session.close()
    terminals = session.directory / "terminals"
    terminals.mkdir()
    cast_path = terminals / "term-1.cast"
    writer = CastWriter(cast_path, CastHeader(80, 24, session.metadata.start_time, start_monotonic=start_s), start_s)
    writer.output(start_s + 0.05, b"handled")
    writer.close()
    frames = [(start_s + 0.1, b"before the panic"), (start_s + 0.4, b"inside the panic")]
    (terminals / "term-1.spool").write_bytes(
        b"".join(channel._HEADER.pack(channel.OUTPUT, len(data), at) + data for at, data in frames)
    )
    assert abandoned.recover_all(Locations.default(), print, session=session.id) == 1
    assert [data for _, data in read_output(cast_path)] == [b"handled", b"before the panic"]


def test_spools_of_dead_recorders_are_recovered_once_the_terminal_is_calm(home: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Recovering a dead recorder's spool costs seconds of CPU for a flood's 100 MB: not while
    this terminal floods (on 2 cores it would slow the flood), but once it has been calm for a
    while, or when the session ends."""
    recovered: list[float] = []
    monkeypatch.setattr(abandoned, "left", lambda locations: [home / "left.spool"])
    monkeypatch.setattr(abandoned, "recover_all", lambda locations, on_problem: recovered.append(time.monotonic()))
    flood = spool.Flood(time.monotonic())
    thread = recording._recover_abandoned(lambda message: None, flood, threading.Event())
    flooding_until = time.monotonic() + 2 * recording.RECOVERY_CALM_S
    while time.monotonic() < flooding_until:
        time.sleep(spool.WINDOW_S)
        # A flood at any pace this loop keeps on a loaded machine (1 MiB a turn is not one when a
        # turn takes 0.2 s): each arrival counts, and the calm starts after the last.
        flood.arrived(1 << 30, time.monotonic())
        assert not recovered, "recovered while the terminal flooded"
    calm_from = time.monotonic()
    thread.join(10 * recording.RECOVERY_CALM_S)
    assert recovered and recovered[0] - calm_from >= recording.RECOVERY_CALM_S - 2 * spool.WINDOW_S

    ended = threading.Event()
    thread = recording._recover_abandoned(lambda message: None, spool.Flood(time.monotonic()), ended)
    ended.set()  # the session ended before the terminal was calm for long: recovered now
    thread.join(10)
    assert len(recovered) == 2
