"""Helpers for `crowdcode shell` tests: the wrapper in a real PTY, and reading what it recorded."""

from __future__ import annotations

import collections
import contextlib
import os
import sys
import time
from pathlib import Path

import pexpect
import pytest

from crowdcode_sdk import Store
from crowdcode_sdk.store import SessionInfo
from tests.conftest import only_session as only_session  # the shell tests import it from here

CROWDCODE = str(Path(sys.executable).with_name("crowdcode"))
PROMPT = "READY$ "


class Tail:
    """The last ``limit`` bytes or so written to it (pexpect's log of what a terminal showed: a
    flood's hundreds of megabytes are not kept)."""

    def __init__(self, limit: int = 1 << 16) -> None:
        self._chunks: collections.deque[bytes] = collections.deque()
        self._size = 0
        self._limit = limit

    def write(self, data: bytes) -> None:
        self._chunks.append(data)
        self._size += len(data)
        while self._size - len(self._chunks[0]) >= self._limit:
            self._size -= len(self._chunks.popleft())

    def flush(self) -> None:
        pass

    def getvalue(self) -> bytes:
        return b"".join(self._chunks)


class Shell:
    """`crowdcode shell` in a pexpect PTY."""

    def __init__(self, args: list[str], cwd: Path, size: tuple[int, int] = (24, 80)) -> None:
        self.child = pexpect.spawn(
            CROWDCODE, ["shell", *args], cwd=str(cwd), env=dict(os.environ), dimensions=size, timeout=15
        )
        self.shown = Tail()
        """The end of what the terminal showed, the wrapper's own last line included: for a failure's message."""
        self.child.logfile_read = self.shown

    def prompt(self) -> None:
        self.child.expect_exact(PROMPT)

    def run(self, line: str) -> None:
        self.child.sendline(line)
        self.prompt()

    def finish(self) -> int:
        self.child.expect(pexpect.EOF)
        self.child.close()
        return self.child.exitstatus if self.child.exitstatus is not None else 128 + self.child.signalstatus

    def leave_tmux_pane(self) -> None:
        """Exit the shell in the tmux pane this shell runs (tmux says ``[exited]`` when its last
        pane closes), then this shell, which must exit with status 0."""
        self.child.sendline("exit")
        self.child.expect_exact("[exited]")
        self.prompt()
        self.child.sendline("exit")
        assert self.finish() == 0


def python_program_on_path(bin_dir: Path, name: str, source: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for a CLI called ``name`` (run by this Python, as node runs the real agents),
    first on PATH for the rest of the test."""
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / name
    script.write_text(f"#!{sys.executable}\n{source}")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return script


def committed(repository: Path, name: str) -> None:
    """``repository`` a git working tree with ``name`` (a file in it) committed: what `crowdcode
    shell` captures there."""
    import subprocess

    for args in (
        ["init", "-q"],
        ["add", name],
        ["-c", "user.name=T", "-c", "user.email=t@e", "commit", "-qm", name],
    ):
        subprocess.run(["git", "-C", str(repository), *args], check=True, capture_output=True)


def ended_sessions(count: int, timeout: float = 15) -> list[SessionInfo]:
    """Exactly ``count`` sessions, once every one has ended (each recorder writes its end a
    moment after its shell has gone)."""
    deadline = time.monotonic() + timeout
    while len(sessions := Store().sessions()) < count or any(info.end is None for info in sessions):
        assert time.monotonic() < deadline, f"expected {count} ended sessions: {sessions}"
        time.sleep(0.05)
    assert len(sessions) == count, sessions
    return sessions


def actions(info: SessionInfo, kind: str | None = None) -> list[dict]:
    found = []
    for event in Store().events(info):
        wire = event.to_wire()
        if wire["type"] == "action" and (kind is None or wire["action"]["kind"] == kind):
            found.append(wire["action"])
    return found


def screens(info: SessionInfo) -> list[dict]:
    return [e.to_wire()["observation"]["activeTerminal"] for e in Store().events(info) if e.type == "observation"]


def cast_file(info: SessionInfo) -> Path:
    (path,) = (info.directory / "terminals").glob("*.cast")
    return path


def live_entry(condition, timeout: float = 10.0) -> dict:
    """The single live session's registry entry once ``condition(entry)`` holds: the recorder runs
    in its own process and may be a moment behind the terminal."""
    from crowdcode_sdk import Locations
    from crowdcode_sdk.registry import live_sessions

    deadline = time.monotonic() + timeout
    while True:
        entries = live_sessions(Locations.default())
        if len(entries) == 1:
            try:
                if condition(entries[0]):
                    return entries[0]
            except (KeyError, IndexError, TypeError):
                pass
        if time.monotonic() > deadline:
            raise AssertionError(f"registry never satisfied the condition: {entries}")
        time.sleep(0.05)


def recorded(info: SessionInfo, kind: str) -> bool:
    """Whether the session holds an event of this type, or an action of this kind, so far."""
    return any(kind in (e.type, e.to_wire().get("action", {}).get("kind")) for e in Store().events(info))


def _processes() -> dict[int, tuple[int, bytes]]:
    """Every process now: pid -> (parent pid, command line)."""
    found: dict[int, tuple[int, bytes]] = {}
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            if entry.name.isdigit():
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                found[int(entry.name)] = (ppid, (entry / "cmdline").read_bytes())
    return found


def _descends(pid: int, ancestor: int, table: dict[int, tuple[int, bytes]]) -> bool:
    while pid > 1:
        pid = table[pid][0] if pid in table else 0
        if pid == ancestor:
            return True
    return False


def wait_for_process(*argv: str, under: int, timeout: float = 15.0) -> int:
    """The pid of a running process with exactly this command line that descends from ``under``
    (the wrapper under test: another test's ``sleep 30`` elsewhere on the machine is not the one
    a key should stop). A signal typed before the shell has started the command would reach the
    shell instead (on a loaded machine, 0.3 s is not always enough)."""
    wanted = "\0".join(argv).encode() + b"\0"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        table = _processes()
        for pid, (_, cmdline) in table.items():
            if cmdline == wanted and _descends(pid, under, table):
                return pid
        time.sleep(0.05)
    raise AssertionError(f"{' '.join(argv)} did not start under {under} within {timeout} s")


def forked_recorder(wrapper: int, timeout: float = 15.0) -> int:
    """The wrapper's child that is a fork of it (same command line), once its other child has
    exec'd the program: before that, ptyprocess's own fork has the wrapper's command line too."""
    wanted = Path(f"/proc/{wrapper}/cmdline").read_bytes()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = {pid: cmdline for pid, (ppid, cmdline) in _processes().items() if ppid == wrapper}
        forks = [pid for pid, cmdline in children.items() if cmdline == wanted]
        if len(forks) == 1 and len(children) == 2:
            return forks[0]
        time.sleep(0.002)
    raise AssertionError(f"the wrapper forked no recorder within {timeout} s")
