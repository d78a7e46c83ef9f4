"""A panic reaches the bytes that wait in a `crowdcode shell` recorder's spool
(`terminals/<id>.spool`, crowdcode_shell.spool): while a live recorder defers a flood there, and
after a recorder that died left it for the next start to recover. A marker printed in the middle
of a flood (the shell computes it, so it is in no command line) is looked for in the spool file
itself, on disk, before and after the press.

A flood is what the recorder defers (more than 6.5 MB/s); a test reading the terminal on this
loaded 2-core machine gets about 2.7 MB/s out of it, so every output is made a flood for the
recorder here: a ``sitecustomize`` lowers ``crowdcode_shell.spool.FLOOD_BYTES`` to 1 byte, and
lengthens ``WINDOW_S`` (a pause of the loaded machine is no calm) and ``MAX_DEFER_S``, in the
processes the test starts. The spool, the recorder and the panic
are the real ones."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from shell_helpers import CROWDCODE, cast_file, live_entry, only_session

from crowdcode_sdk import Store
from crowdcode_sdk.store import SessionInfo

MARK = b"MARK-42-spooled"
FLOOD = (
    "sleep 1; yes AAAA | head -c 6000000; echo MARK-$((40+2))-spooled; yes AAAA | head -c 20000000; "
    "echo; echo AFTER-$((1+1)); sleep 0.5"
)
EARLY_FLOOD = "echo MARK-$((40+2))-spooled; yes AAAA | head -c 6000000; sleep 2; echo AFTER-$((1+1)); sleep 0.5"
"""A flood from the first moment: the recorder sets its session up only in the calm after it."""
EVERY_OUTPUT_A_FLOOD = """from crowdcode_shell import spool

spool.FLOOD_BYTES = 1
spool.WINDOW_S = 1.0
spool.MAX_DEFER_S = 60.0
"""


@pytest.fixture(autouse=True)
def every_output_a_flood(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(EVERY_OUTPUT_A_FLOOD)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))


def _spooled(directory: Path) -> bytes:
    data = b""
    for path in (directory / "terminals").glob("*.spool"):
        try:
            data += path.read_bytes()
        except FileNotFoundError:  # handled and removed meanwhile
            continue
    return data


def _journal(directory: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(directory.glob("events-*.jsonl")))


def _reaches_the_spool(directory: Path) -> bool:
    """Whether the marker shows up in the spool: the terminal shows it before the recorder has
    taken it from the channel."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if MARK in _spooled(directory):
            return True
        time.sleep(0.05)
    return False


class Terminal:
    """Reads the terminal on a thread of its own, as a person's terminal does: output that nobody
    reads stops the flood (and the recorder would see calm)."""

    def __init__(self, fd: int) -> None:
        self.shown = bytearray()
        self._fd = fd
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self._fd, 1 << 20)
            except OSError:
                return
            if not data:
                return
            self.shown += data

    def wait_closed(self, timeout: float = 30) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the terminal did not close"

    def wait_for(self, wanted: bytes, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while wanted not in self.shown:
            assert time.monotonic() < deadline, f"{wanted!r} not shown in {timeout} s"
            time.sleep(0.05)


def test_a_panic_mid_flood_overwrites_what_waits_in_the_live_recorders_spool(shell) -> None:
    s = shell("--", "sh", "-c", FLOOD)
    live_entry(lambda entry: entry["pid"])
    (info,) = Store().sessions()
    terminal = Terminal(s.child.child_fd)
    terminal.wait_for(MARK)
    waiting = _reaches_the_spool(info.directory)
    press = subprocess.run([CROWDCODE, "panic"], capture_output=True, text=True, timeout=60)
    assert press.returncode == 0 and "from 1 session" in press.stdout, press.stdout + press.stderr
    after_press = _spooled(info.directory)
    assert waiting, "the marker was handled before the press: nothing waited in the spool"
    assert MARK not in after_press
    info = _ended_without_the_mark(s, terminal)
    assert not list((info.directory / "terminals").glob("*.spool"))


def test_a_panic_overwrites_the_spool_a_dead_recorder_left_before_it_is_recovered(shell, tmp_path: Path) -> None:
    s = shell("--", "sh", "-c", FLOOD)
    recorder = int(live_entry(lambda entry: entry["pid"])["pid"])
    (info,) = Store().sessions()
    terminal = Terminal(s.child.child_fd)
    terminal.wait_for(MARK)
    assert _reaches_the_spool(info.directory), "the marker was handled at once: nothing waited in the spool"
    os.kill(recorder, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while os.path.exists(f"/proc/{recorder}") and Path(f"/proc/{recorder}/stat").read_text().split()[2] != "Z":
        assert time.monotonic() < deadline, "the recorder did not die"
        time.sleep(0.02)
    left = _spooled(info.directory)
    s.child.close(force=True)
    assert MARK in left, "the marker was handled before the recorder died: nothing waited in the spool"

    press = subprocess.run([CROWDCODE, "panic"], capture_output=True, text=True, timeout=60)
    assert press.returncode == 0, press.stderr
    assert MARK not in _spooled(info.directory)
    assert _spooled(info.directory), "the spool is kept for recovery, not deleted"

    result = subprocess.run([CROWDCODE, "shell", "--", "true"], capture_output=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 0 and not result.stderr, result.stderr
    # The next start's recorder recovers the spool; the wrapper does not wait for its recorder.
    deadline = time.monotonic() + 30
    while list((info.directory / "terminals").glob("*.spool")):
        assert time.monotonic() < deadline, "the next start did not recover the spool"
        time.sleep(0.05)
    assert MARK not in cast_file(Store().find(info.id)).read_bytes()


def test_a_panic_before_the_recorder_has_its_session_reaches_the_frames_it_took(shell) -> None:
    """The recorder takes a flood at the start into its spool and sets its session up after it: a
    panic pressed meanwhile reaches no live session, and the recorder, once set up, skips the
    frames of the press's reach."""
    s = shell("--", "sh", "-c", EARLY_FLOOD)
    terminal = Terminal(s.child.child_fd)
    terminal.wait_for(MARK)
    assert not Store().sessions(), "the recorder had its session before the press"
    press = subprocess.run([CROWDCODE, "panic"], capture_output=True, text=True, timeout=60)
    assert press.returncode == 0, press.stderr
    _ended_without_the_mark(s, terminal)


def _ended_without_the_mark(s, terminal: Terminal) -> SessionInfo:
    """The session, once the program has ended: neither its cast nor its journal holds the marker,
    and what came after the press is recorded."""
    terminal.wait_for(b"AFTER-2")
    terminal.wait_closed()
    assert s.finish() == 0
    info = only_session(ended=True)
    assert MARK not in cast_file(info).read_bytes() and MARK not in _journal(info.directory)
    assert b"AFTER-2" in cast_file(info).read_bytes()
    return info
