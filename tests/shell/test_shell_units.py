"""Unit tests of the shell adapter's pure parts (the end-to-end tests cover the whole)."""

from __future__ import annotations

import contextlib
import errno
import os
import pty
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest
from crowdcode_shell import channel, pty_loop
from crowdcode_shell.agent_tracker import AgentTracker, LineEditor
from crowdcode_shell.app import problem_line
from crowdcode_shell.asciicast import CastHeader, CastWriter, read_cast, read_output, to_v3
from crowdcode_shell.commands import CommandTracker
from crowdcode_shell.foreground import Foreground, ForegroundWatcher, read_argv
from crowdcode_shell.input_filter import typed
from crowdcode_shell.marks import MarkScanner, history_entry
from crowdcode_shell.sampler import ScreenSampler
from crowdcode_shell.screen import AvtScreen

from crowdcode_sdk import Session
from crowdcode_sdk.agents import match_agent
from crowdcode_sdk.store import Store
from tests.conftest import only_session
from tests.shell.shell_helpers import screens


def test_marks_split_across_reads_and_foreign_nonces() -> None:
    scanner = MarkScanner("abc")
    stream = b"out\x1b]6973;abc;P;/tmp/x\x07more\x1b]6973;zzz;C;fake\x07\x1b]6973;abc;C;ls -l\x1b\\tail"
    for cut in range(len(stream) + 1):
        marks = scanner.feed(stream[:cut], 1.0) + scanner.feed(stream[cut:], 2.0)
        assert [(m.kind, m.payload) for m in marks] == [("P", "/tmp/x"), ("C", "ls -l")], cut


def test_history_entry() -> None:
    assert history_entry("   12  git commit -m 'x'\r\n") == (12, "git commit -m 'x'")
    assert history_entry("    3* for i in 1 2; do\r\n  echo $i\r\ndone\r\n") == (3, "for i in 1 2; do\n  echo $i\ndone")


def test_answerbacks_are_not_typing() -> None:
    assert typed(b"ls\x1b[12;40R -l\r") == b"ls -l\r"
    assert typed(b"\x1b[?1;2c\x1b[>0;276;0c\x1b]11;rgb:0000/0000/0000\x07\x1bP1+r544e\x1b\\x") == b"x"
    assert typed(b"\x1b[A\x1b[D\x7f") == b"\x1b[A\x1b[D\x7f"  # arrow keys are typing


def test_line_editor() -> None:
    editor = LineEditor()
    assert editor.feed("fix teh\x7f\x7fhe bug\r") == ["fix the bug"]
    assert editor.feed("\x1b[200~pasted\nlines\x1b[201~\r") == ["pasted\nlines"]
    assert editor.feed("drop\x15keep\x1b[D\r") == ["keep"]
    assert editor.feed("one two\x17three\r") == ["one three"]


def test_a_prompt_that_ends_the_agent_still_counts(home: Path) -> None:
    """The foreground sampler sees the agent gone before the recorder handles the ``/exit`` typed
    into it: keys typed while the agent had the terminal are its prompts, however late."""
    with Session(adapter="shell", editor="test") as session:
        tracker = AgentTracker(session, "t1", child_pid=1)
        tracker.foreground(Foreground(pid=50, argv=("claude",), cwd=None, agent="claude", since=0), now=1.0)
        tracker.typed("write a haiku\r", at=1.5)
        tracker.foreground(None, now=3.0)
        tracker.typed("/exit\r", at=2.5)
        tracker.typed("ls\r", at=3.5)  # typed to the shell again
    info = only_session()
    prompts = [e.payload.text for e in Store().events(info) if e.kind == "agent_prompt"]
    assert prompts == ["write a haiku", "/exit"]


def screen_sampler(
    session: Session,
    program: str,
    agents: AgentTracker,
    *,
    watcher: ForegroundWatcher | None = None,
    screen: AvtScreen | None = None,
) -> ScreenSampler:
    """The sampler of an 80x24 terminal ``t1`` running ``program``."""
    return ScreenSampler(
        session,
        screen or AvtScreen(80, 24),
        "t1",
        program,
        watcher=watcher,
        commands=CommandTracker(session, "t1", program, None),
        agents=agents,
        size=(80, 24),
    )


def test_keys_find_the_agents_answer_on_the_screen_however_late_the_sampler_runs(home: Path) -> None:
    """A recorder far behind handles a prompt, the agent's answer and the next keys (``/exit``)
    in one go, before its sampler has ticked once: the keys reach the agent tracker after the
    output before them is on the screen, so the answer is still the prompt's response (when keys
    went to the tracker as their frames were handled, ``/exit`` found the screen of the prompt and
    the answer was lost)."""
    with Session(adapter="shell", editor="test") as session:
        agents = AgentTracker(session, "t1", child_pid=1)
        agents.foreground(Foreground(pid=50, argv=("claude",), cwd=None, agent="claude", since=0), now=1.0)
        sampler = screen_sampler(session, "claude", agents)
        sampler.output(b"agent> ", at=1.5)
        sampler.keys("write a haiku\r", at=2.0)
        sampler.output(b"write a haiku\r\nAnswer: ukiah a etirw\r\nagent> ", at=2.5)
        sampler.keys("/exit\r", at=3.0)
        sampler.start()
        sampler.stop()
        agents.close(0)
    events = list(Store().events(only_session()))
    said = [(e.kind, e.payload.text) for e in events if e.kind in ("agent_prompt", "agent_response")]
    assert [text for kind, text in said if kind == "agent_prompt"] == ["write a haiku", "/exit"]
    assert said[1][0] == "agent_response" and "Answer: ukiah a etirw" in said[1][1], said


@pytest.mark.parametrize("shown_s", [0.05, 0.25])
def test_a_page_shown_long_enough_is_recorded_however_late_the_sampler_runs(home: Path, shown_s: float) -> None:
    """A recorder far behind feeds two pages of a pager in one tick. The first was on the
    terminal for ``shown_s`` by the output's own clock: at two sampling intervals (0.2 s) or more
    it is recorded, as a sampler on time would have; a page shown for less may be skipped, as it
    may be on time too. On the wall clock alone, the first page was never recorded."""
    with Session(adapter="shell", editor="test") as session:
        sampler = screen_sampler(session, "less", AgentTracker(session, "t1", os.getpid()))
        sampler.output(b"\x1b[?1049h\x1b[Hpage one", at=10.0)
        sampler.output(b"\x1b[2J\x1b[Hpage two", at=10.0 + shown_s)
        sampler.start()
        sampler.stop()
    seen = [screen["viewport"][0] for screen in screens(only_session())]
    assert seen == (["page one", "page two"] if shown_s >= 0.2 else ["page two"])


def test_the_recorder_knows_the_agent_before_it_handles_a_key(home: Path, tmp_path: Path) -> None:
    """`crowdcode shell -- claude`: the recorder starts after the agent, and the wrapper holds
    the keys typed meanwhile until it is ready; then they come at once, and the agent may read
    them, answer and exit before the sampler's thread first ticks. Starting the sampler samples
    the foreground program on the spot, so the first key handled is already a prompt."""
    agent = tmp_path / "claude"
    agent.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(30)\n")
    agent.chmod(0o755)
    child = pty_loop.spawn([str(agent)], dict(os.environ), (80, 24))
    try:
        with Session(adapter="shell", editor="test") as session:
            agents = AgentTracker(session, "t1", child.pid)
            sampler = screen_sampler(
                session, "claude", agents, watcher=ForegroundWatcher(child.master, child.pid, (str(agent),))
            )
            sampler.start()
            agents.typed("hello\r", at=time.monotonic())
            sampler.stop()
    finally:
        os.kill(child.pid, signal.SIGKILL)
        os.waitpid(child.pid, 0)
        os.close(child.master)
    info = only_session()
    assert [e.payload.text for e in Store().events(info) if e.kind == "agent_prompt"] == ["hello"]


def test_a_foreground_program_seen_before_its_exec_is_looked_at_again(tmp_path: Path) -> None:
    """A shell hands the terminal to its child before the child execs the command: the first
    look at the new foreground group can read the shell's argv. The agent started by the exec
    is still found, and the program is the agent's."""
    agent = tmp_path / "claude"
    agent.write_text("import time\ntime.sleep(30)\n")
    go_r, go_w = os.pipe()
    ready_r, ready_w = os.pipe()
    pid, master = pty.fork()
    if pid == 0:  # the pty's session leader (pty.fork made it so): waits, then becomes the agent
        os.write(ready_w, b"x")
        os.read(go_r, 1)
        os.execv(sys.executable, [sys.executable, str(agent)])
    try:
        os.read(ready_r, 1)
        watcher = ForegroundWatcher(master, pid, ("not-a-shell",))
        before = watcher.poll(0)
        assert before is not None and before.pid == pid and before.agent is None
        argv = read_argv(pid)
        os.write(go_w, b"x")
        while read_argv(pid) in (argv, ()):  # () while the exec is under way
            time.sleep(0.01)
        after = watcher.poll(1)
        assert after is not None and after.agent == "claude" and after.process == "claude"
        assert after.since == 0  # the same program since it was first seen
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        for fd in (master, go_r, go_w, ready_r, ready_w):
            os.close(fd)


def test_agent_matcher() -> None:
    assert match_agent(["node", "/usr/lib/node_modules/@openai/codex/bin/codex.js"]) == "codex"
    assert match_agent(["npx", "-y", "@google/gemini-cli"]) == "gemini"
    assert match_agent(["/home/u/.local/bin/claude", "--resume"]) == "claude"
    assert match_agent(["python3", "-m", "aider"]) == "aider"
    assert match_agent(["env", "A=1", "cursor-agent"]) == "cursor-agent"
    assert match_agent(["vim", "claude.md"]) is None
    assert match_agent(["node", "server.js"]) is None
    assert match_agent(["python3", "-c", "import claude"]) is None


def test_a_cast_has_its_header_before_its_first_flush(tmp_path: Path) -> None:
    """A recorder killed before its first flush (a flood while it starts) leaves a readable cast."""
    path = tmp_path / "t.cast"
    writer = CastWriter(path, CastHeader(80, 24, 1_000_000), 10.0)
    writer.output(10.5, b"pending")
    header, events = read_cast(path)  # as a recovery after SIGKILL reads it
    assert (header.cols, header.rows, events) == (80, 24, [])
    writer.close()


def test_cast_is_lossless_for_split_and_invalid_utf8(tmp_path: Path) -> None:
    path = tmp_path / "t.cast"
    writer = CastWriter(path, CastHeader(80, 24, 1_000_000), 10.0)
    data = "a✓b😀c".encode() + b"\xff\xfe" + "é".encode()
    pieces = [data[i : i + 1] for i in range(len(data))]  # every multi-byte character split
    for i, piece in enumerate(pieces):
        writer.output(10.0 + i / 100, piece)
    writer.exit(11.0, 0)
    writer.close()
    assert b"".join(d for _, d in read_output(path)) == data
    events = [orjson.loads(line) for line in path.read_bytes().splitlines()[1:]]
    assert "".join(e[2] for e in events if e[1] == "o") == "a✓b😀c\ufffd\ufffdé"


def test_v3_intervals_carry_rounding() -> None:
    header = CastHeader(80, 24, 0)
    events = [[0.0004, "o", "a"], [0.0008, "o", "b"], [0.0012, "o", "c"], [1.0, "x", "0"]]
    lines = [orjson.loads(line) for line in to_v3(header, events)]
    intervals = [e[0] for e in lines[1:]]
    assert intervals == [0.0, 0.001, 0.0, 0.999]
    assert abs(sum(intervals) - 1.0) < 1e-9


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 256 KiB tmpfs: a disk that fills up and frees up for real."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True)
    assert done.returncode == 0, f"this test needs mount(8) for a tmpfs: {done.stderr.decode().strip()}"
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def _fill(directory: Path) -> Path:
    """A file that takes every free block of ``directory``'s disk: written until the disk is full."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as error:
        assert error.errno == errno.ENOSPC, error  # full, not failing for another reason
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_that_frees_up_leaves_a_gap_in_the_cast(small_disk: Path) -> None:
    """The disk fills: the events are dropped and counted, the file keeps only whole events.
    Space comes back: the cast goes on after a marker of what is missing, and the journal's
    callback hears of the gap. A permanent failure is one short line for the user."""
    gaps: list[int] = []
    writer = CastWriter(small_disk / "t.cast", CastHeader(80, 24, 0), 0.0, on_gap=gaps.append)
    writer.output(0.1, b"before " * 10)
    writer.flush()
    filler = _fill(small_disk)
    writer.output(0.2, b"x" * 100_000)
    writer.flush()
    assert writer.error is not None and writer.lost_bytes > 100_000
    assert (small_disk / "t.cast").read_bytes().endswith(b"\n")  # no torn line
    line = problem_line({"lostBytes": writer.lost_bytes, "castError": writer.error.strerror}, 0)
    assert (
        line
        == f"crowdcode shell: recording incomplete: {writer.lost_bytes} bytes of terminal I/O not recorded (No space left on device)"
    )
    assert not gaps
    filler.unlink()
    writer.output(0.3, b"after the disk freed up")
    writer.close()
    assert gaps == [writer.lost_bytes]
    _, events = read_cast(small_disk / "t.cast")
    raw = (small_disk / "t.cast").read_bytes().splitlines()
    assert len(raw) == len(events) + 1  # every line a whole event
    assert [e[1:] for e in events] == [
        ["o", "before " * 10],
        ["m", f"crowdcode: {writer.lost_bytes} bytes not recorded (disk full)"],
        ["o", "after the disk freed up"],
    ]


def test_channel_never_blocks_and_a_stalled_recorder_gets_a_gap() -> None:
    """A recorder that takes nothing (here: at once, ``stall_s=0``) has what does not fit dropped
    and counted; the gap is announced as soon as it takes bytes again."""
    r, w = channel.pipe()
    os.set_blocking(r, False)
    writer = channel.ChannelWriter(w, max_buffer=256 * 1024, stall_s=0)
    chunk = b"z" * 65536
    for _ in range(200):  # ~13 MB into a pipe nobody reads: returns at once, drops the excess
        writer.send(channel.OUTPUT, chunk)
    assert writer.dropped_total > 0
    received = bytearray()

    def drain() -> None:
        try:
            while True:
                received.extend(os.read(r, 1 << 20))
        except BlockingIOError:
            pass

    while writer.pending:  # the recorder catches up
        drain()
        writer.flush()
    writer.send(channel.OUTPUT, b"after")
    drain()
    writer.close()
    os.close(r)
    frames = _frames_in(bytes(received))
    kinds = [f.kind for f in frames]
    assert kinds.count(channel.GAP) == 1
    gap = frames[kinds.index(channel.GAP)]
    assert int.from_bytes(gap.data, "little") == writer.dropped_total
    assert frames[-1].data == b"after"
    before_gap = b"".join(f.data for f in frames[: kinds.index(channel.GAP)])
    assert before_gap and before_gap == chunk * (len(before_gap) // len(chunk))


@pytest.mark.parametrize("last", [channel.EXIT, None])
def test_what_is_dropped_until_the_end_is_still_announced(last: bytes | None) -> None:
    """The recorder stalls, then takes bytes again only as the session ends: closing hands it
    everything it was owed, and a gap frame still counts every byte dropped since the
    last one that got through, and the exit status is not dropped."""
    r, w = channel.pipe()
    writer = channel.ChannelWriter(w, max_buffer=256 * 1024, stall_s=0.2)
    chunk = b"z" * 65536
    while not writer.holds(len(chunk)):  # a pipe nobody reads yet
        writer.send(channel.OUTPUT, chunk)
    time.sleep(0.2)  # nothing taken for the stall bound: from now on output is dropped
    while writer.dropped_total < 10 << 20:
        writer.send(channel.OUTPUT, chunk)
    if last is not None:
        writer.send(last, b"0")
    received = bytearray()
    reader = threading.Thread(target=lambda: received.extend(b"".join(iter(lambda: os.read(r, 1 << 20), b""))))
    reader.start()
    while writer.stalled_at() <= time.monotonic():  # until the recorder has taken bytes again
        select.select([], [w], [])
        writer.flush()
    writer.close()
    reader.join()
    os.close(r)
    frames = _frames_in(bytes(received))
    gaps = [int.from_bytes(f.data, "little") for f in frames if f.kind == channel.GAP]
    assert gaps and sum(gaps) == writer.dropped_total
    assert sum(len(f.data) for f in frames if f.kind == channel.OUTPUT) % len(chunk) == 0
    assert sum(len(f.data) for f in frames if f.kind == channel.OUTPUT) > 1 << 20  # the pipe and the buffer
    ending = [channel.GAP, last] if last else [channel.GAP]
    assert [f.kind for f in frames[-len(ending) :]] == ending


def test_closing_waits_for_a_slow_recorder_as_long_as_it_takes_bytes() -> None:
    """At the end of a session the buffer holds 16 MiB that a slow recorder takes 1 MiB at a time,
    4 s in all: closing hands over every byte (it waited at most 2 s before, dropping the rest)."""
    r, w = channel.pipe()
    writer = channel.ChannelWriter(w, stall_s=1.0)
    chunk = bytes(range(256)) * 256
    for _ in range(256):
        writer.send(channel.OUTPUT, chunk)
    writer.send(channel.EXIT, b"0")
    received = bytearray()

    def slow_recorder() -> None:
        while data := os.read(r, 1 << 20):
            received.extend(data)
            time.sleep(0.25)

    reader = threading.Thread(target=slow_recorder)
    reader.start()
    writer.close()
    reader.join()
    os.close(r)
    assert writer.dropped_total == 0
    frames = _frames_in(bytes(received))
    assert b"".join(f.data for f in frames if f.kind == channel.OUTPUT) == chunk * 256
    assert frames[-1].kind == channel.EXIT


def test_a_full_channel_holds_output_while_the_recorder_makes_progress_and_drops_once_it_stalls() -> None:
    """A full buffer asks the loop to hold the program's output (nothing is dropped, even past the
    buffer's size) until the recorder has taken nothing for ``stall_s``; then output is dropped
    with a gap, and once the recorder takes bytes again, output is held again, not dropped."""
    r, w = channel.pipe()
    os.set_blocking(r, False)
    writer = channel.ChannelWriter(w, max_buffer=256 * 1024, stall_s=0.3)
    chunk = b"z" * 65536
    sent = 0
    while not writer.holds(len(chunk)):
        writer.send(channel.OUTPUT, chunk)
        sent += len(chunk)
    writer.send(channel.OUTPUT, chunk)  # what the loop had read already is kept all the same
    sent += len(chunk)
    assert writer.dropped_total == 0
    time.sleep(0.3)  # the recorder takes nothing
    assert not writer.holds(len(chunk))
    writer.send(channel.OUTPUT, chunk)
    assert writer.dropped_total == len(chunk)
    received = bytearray()
    with contextlib.suppress(BlockingIOError):
        while True:
            received += os.read(r, 1 << 20)
    writer.flush()  # it takes bytes again: progress
    while not writer.holds(len(chunk)):
        writer.send(channel.OUTPUT, b"y" * len(chunk))
        sent += len(chunk)
    assert writer.dropped_total == len(chunk)
    os.set_blocking(r, True)
    reader = threading.Thread(target=lambda: received.extend(b"".join(iter(lambda: os.read(r, 1 << 20), b""))))
    reader.start()
    writer.close()
    reader.join()
    os.close(r)
    frames = _frames_in(bytes(received))
    kinds = [f.kind for f in frames]
    assert kinds.count(channel.GAP) == 1
    assert int.from_bytes(frames[kinds.index(channel.GAP)].data, "little") == len(chunk)
    before = b"".join(f.data for f in frames[: kinds.index(channel.GAP)])
    after = b"".join(f.data for f in frames[kinds.index(channel.GAP) :] if f.kind == channel.OUTPUT)
    assert set(before) == {ord("z")} and set(after) == {ord("y")}
    assert len(before) + len(after) == sent


def test_before_the_recorder_is_ready_a_full_channel_holds_the_output_instead_of_losing_it() -> None:
    """A real program flooding its PTY through the pass-through loop, and a recorder that neither
    reads nor is ready for its first second (still importing its modules on a loaded machine), with
    a channel buffer of 256 KiB: the loop stops reading the program's output while the channel is
    full, and once the recorder reads, every byte has reached both the terminal and the recorder,
    in order, with nothing dropped and no gap."""
    lines = 1_000_000  # 6.9 MB: far more than the channel's pipe (1 MiB) and buffer together
    child = pty_loop.spawn(["sh", "-c", f"stty raw -echo; seq 1 {lines}"], dict(os.environ), (80, 24))
    frames_r, frames_w = channel.pipe()
    writer = channel.ChannelWriter(frames_w, max_buffer=256 << 10)
    ready_r, ready_w = os.pipe()
    terminal_r, terminal_w = os.pipe()
    stdin = os.open(os.devnull, os.O_RDONLY)
    shown, recorded = bytearray(), bytearray()
    shown_when_ready: list[int] = []

    def read_all(fd: int, into: bytearray) -> None:
        while chunk := os.read(fd, 1 << 20):
            into += chunk

    def recorder() -> None:
        time.sleep(1.0)
        shown_when_ready.append(len(shown))
        os.write(ready_w, b"{}\n")
        read_all(frames_r, recorded)

    threads = [threading.Thread(target=read_all, args=(terminal_r, shown)), threading.Thread(target=recorder)]
    for thread in threads:
        thread.start()
    try:
        status = pty_loop.run(child, writer, stdin=stdin, stdout=terminal_w, ready=ready_r)
        writer.close()
    finally:
        os.close(terminal_w)
        for thread in threads:
            thread.join(30)
        for fd in (stdin, ready_r, ready_w, terminal_r, frames_r):
            os.close(fd)
    assert status == 0 and not any(thread.is_alive() for thread in threads)
    assert writer.dropped_total == 0
    assert shown_when_ready[0] <= (1 << 20) + (256 << 10) + 2 * pty_loop.READ_SIZE  # the program was held
    expected = "".join(f"{n}\n" for n in range(1, lines + 1)).encode()
    assert bytes(shown).replace(b"\r\n", b"\n") == expected
    frames = _frames_in(bytes(recorded))
    assert not [f for f in frames if f.kind == channel.GAP]
    assert b"".join(f.data for f in frames if f.kind == channel.OUTPUT) == bytes(shown)


def _frames_in(stream: bytes) -> list[channel.Frame]:
    frames, used = channel.complete_frames(bytearray(stream), len(stream))
    assert used == len(stream)
    return frames


def _read_frames_cut_at(stream: bytes, cut: int) -> list[channel.Frame]:
    """The recorder's reader, with ``stream[:cut]`` read already and the rest still in the pipe
    (how the spool hands over when it fails mid-frame, and how any read ends)."""
    r, w = os.pipe()
    os.write(w, stream[cut:])
    os.close(w)
    try:
        return list(channel.read_frames(r, stream[:cut]))
    finally:
        os.close(r)


def test_output_frames_close_in_time_are_merged() -> None:
    """A flood's thousands of reads reach the recorder as a few frames; anything else between
    output, and output far apart in time, keeps its own frame."""
    header = channel._HEADER

    def frame(kind: bytes, at: float, data: bytes) -> bytes:
        return header.pack(kind, len(data), at) + data

    stream = b"".join(
        [
            frame(channel.OUTPUT, 1.000, b"a"),
            frame(channel.OUTPUT, 1.001, b"b"),
            frame(channel.OUTPUT, 1.002, b"c"),
            frame(channel.INPUT, 1.003, b"k"),
            frame(channel.OUTPUT, 1.004, b"d"),
            frame(channel.OUTPUT, 2.000, b"e"),
        ]
    )
    frames = _read_frames_cut_at(stream, len(stream) - 3)  # a frame split between two reads
    assert [(f.kind, f.time, f.data) for f in frames] == [
        (channel.OUTPUT, 1.000, b"abc"),
        (channel.INPUT, 1.003, b"k"),
        (channel.OUTPUT, 1.004, b"d"),
        (channel.OUTPUT, 2.000, b"e"),
    ]


def test_frames_cut_anywhere() -> None:
    stream = channel._HEADER.pack(channel.INPUT, 2, 1.0) + b"hi" + channel._HEADER.pack(channel.OUTPUT, 1, 1.1) + b"!"
    for cut in range(len(stream) + 1):
        frames = _read_frames_cut_at(stream, cut)
        assert [(f.kind, f.data) for f in frames] == [(channel.INPUT, b"hi"), (channel.OUTPUT, b"!")], cut


def test_a_flood_is_passed_in_bounded_bursts_and_recorded_byte_for_byte() -> None:
    """A real child flooding its PTY: each call passes at most one buffer on (so typed keys and
    signals are seen between bursts), the terminal gets every byte in order, and the recorder gets
    the same bytes as one frame per burst."""
    import contextlib
    import pty
    import select
    import signal

    from crowdcode_shell import pty_loop

    pid, master = pty.fork()
    if pid == 0:
        os.execvp("sh", ["sh", "-c", "stty raw -echo; seq 1 200000"])
    os.set_blocking(master, False)
    terminal_r, terminal_w = channel.pipe()  # 1 MiB: more than a burst, drained after each
    os.set_blocking(terminal_r, False)
    frames_r, frames_w = channel.pipe()
    os.set_blocking(frames_r, False)
    writer = channel.ChannelWriter(frames_w)
    shown, recorded, bursts = bytearray(), bytearray(), 0

    def drain(fd: int, into: bytearray) -> None:
        try:
            while chunk := os.read(fd, 1 << 20):
                into += chunk
        except BlockingIOError:
            pass

    try:
        alive = True
        while alive:
            select.select([master], [], [], 5)
            before = len(shown)
            alive = pty_loop._pass_output(master, terminal_w, writer)
            drain(terminal_r, shown)
            assert len(shown) - before <= pty_loop.READ_SIZE
            bursts += 1
            drain(frames_r, recorded)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # a no-op once it has exited, on a failure it would block
        os.waitpid(pid, 0)
    expected = "".join(f"{n}\n" for n in range(1, 200001)).encode()
    assert bytes(shown).replace(b"\r\n", b"\n") == expected
    frames = _frames_in(bytes(recorded))
    assert b"".join(f.data for f in frames if f.kind == channel.OUTPUT) == bytes(shown)
    assert bursts > len(shown) // pty_loop.READ_SIZE  # bounded: many calls, never one long one


def test_a_command_is_evidence_from_its_start_mark(home: Path, tmp_path: Path) -> None:
    """``rm`` in one terminal, seconds after ``echo`` ended in another: the change is decided
    before ``rm``'s end mark is handled (its recorder lags, or the command is still running), and
    the sampler never saw so short a program in the foreground. Its start mark alone makes it the
    evidence, not the ``echo`` that finished a moment earlier."""
    from crowdcode_shell.marks import Mark

    from crowdcode_sdk.attribution.evidence import TerminalEvidence

    root = tmp_path.resolve()
    with (
        Session(adapter="shell", editor="test", workspace=root) as first,
        Session(adapter="shell", editor="test", workspace=root) as second,
    ):
        echo, rm = CommandTracker(first, "t1", "one", "zsh"), CommandTracker(second, "t2", "two", "zsh")
        for tracker in (echo, rm):
            tracker.mark(Mark("P", str(root), 0.0), 0)
        now = first.now_ms()
        echo.mark(Mark("C", "echo more >> app.py", 0.0), now - 900)
        echo.mark(Mark("D", "0", 0.0), now - 880)
        rm.mark(Mark("C", "rm old.txt", 0.0), now - 20)
        evidence = TerminalEvidence(first.locations)
        verdict = evidence.verdict(evidence.entries(), root / "old.txt", root, now, now)
        assert verdict is not None and verdict.evidence is not None
        assert verdict.evidence.command == "rm old.txt"
        rm.mark(Mark("D", "0", 0.0), now + 10)
        entry = next(e for e in evidence.entries() if e.get("sessionId") == second.id)
        assert "running" not in entry and entry["recent"][-1]["command"] == "rm old.txt"


def test_a_program_reported_late_is_timed_from_when_it_took_the_terminal(tmp_path: Path) -> None:
    """Without integration a command is the foreground program, which the watcher may report a
    moment after it took the terminal (a shell's child before its exec): its duration counts from
    then."""
    events: list = []
    with Session(adapter="shell", editor="test", workspace=tmp_path.resolve()) as session:
        session.add_listener(events.append)
        tracker = CommandTracker(session, "t1", "bash", None)
        now = session.now_ms()
        tracker.foreground(Foreground(4242, ("sleep", "1"), None, None, now - 400), now)
        tracker.foreground(None, now + 600)
    actions = [e.to_wire().get("action") or {} for e in events]
    (end,) = [a for a in actions if a.get("kind") == "terminal_command_end"]
    assert (end["command"], end["durationMs"]) == ("sleep 1", 1000)


class _HeldScreen(AvtScreen):
    """A screen whose next ``state()`` waits until the test lets it go: a sampler thread caught
    between feeding the output and recording the screen."""

    def __init__(self, cols: int, rows: int) -> None:
        super().__init__(cols, rows)
        self.hold = False
        self.reached = threading.Event()
        self.go = threading.Event()

    def state(self):  # type: ignore[no-untyped-def]
        if self.hold:
            self.hold = False
            self.reached.set()
            self.go.wait(10)
        return super().state()


def test_a_screen_sampled_before_a_panic_is_not_recorded_after_it(home: Path) -> None:
    """The sampler fed the output and is about to record the screen when a panic removes it: the
    screen it holds shows what the panic removed, and must not be recorded after the marker."""
    with Session(adapter="shell", editor="test") as session:
        screen = _HeldScreen(80, 24)
        sampler = screen_sampler(session, "bash", AgentTracker(session, "t1", os.getpid()), screen=screen)
        session.add_panic_hook(sampler.forget)
        sampler.start()
        screen.hold = True
        sampler.output(b"$ echo GONE-1234\r\nGONE-1234\r\n$ ", at=time.monotonic())
        assert screen.reached.wait(10)
        panic = threading.Thread(target=session.remove_since, args=(session.metadata.start_time + 1,))
        panic.start()
        panic.join(0.5)  # the old sampler let the panic through here, and recorded the screen after it
        screen.go.set()
        panic.join(10)
        assert not panic.is_alive()
        sampler.output(b"\r\n$ ", at=time.monotonic())
        sampler.stop()
    events = [e.to_wire() for e in Store().events(only_session())]
    marker = next(i for i, e in enumerate(events) if e.get("action", {}).get("kind") == "panic")
    after = orjson.dumps(events[marker:])
    assert b"GONE-1234" not in after


def test_the_recorder_starts_without_the_redaction_package_or_the_attribution_engine() -> None:
    """The recorder checks output for password prompts from its first frame, while the user's
    program may already flood the terminal: the redaction package (detect-secrets and its plugins)
    is a tenth of a second of CPU that the check does not need; so is the attribution engine
    (watchdog, the ignore rules) outside a git working tree, where there is nothing to watch."""
    probe = (
        "import sys\n"
        "from crowdcode_shell import recording\n"
        "from crowdcode_shell.secret_prompt import SecretPrompt\n"
        "prompt = SecretPrompt()\n"
        "prompt.output(b'\\x1b[1m[sudo] password for ana: ')\n"
        "assert prompt.hidden(b'hunter2')\n"
        "print(sorted(m for m in sys.modules if m.startswith(\n"
        "    ('crowdcode_sdk.redaction', 'detect_secrets', 'crowdcode_sdk.attribution.engine', 'watchdog'))))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
