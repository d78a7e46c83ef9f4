"""End to end: the real Neovim TUI in tmux, with the plugin and the real recorder, quit the ways
people quit. Each quit ends Neovim within two seconds, leaves no recorder behind and exactly one
session that has ended; closing the terminal (SIGHUP), ``:cq`` and a stopped recorder leave no
processes either."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from crowdcode_sdk.store import Store

from .conftest import crowdcode_executable, only_session
from .nvim_driver import PLUGIN, QUIT_SECONDS, nvim_binary, wait_for
from .privacy_e2e import on_host
from .tmux_pane import Pane

pytestmark = pytest.mark.timeout(120)


class Tui(Pane):
    """Neovim's TUI in a private tmux server; its processes are found by the test's CROWDCODE_HOME
    in their environment, so that orphans (whose parent is gone) are found too."""

    def __init__(
        self,
        home: Path,
        ws: Path,
        tmp_path: Path,
        columns: int = 120,
        host: str | None = None,
        recorder: list[str] | None = None,
    ) -> None:
        """``host``: run Neovim under this host name (tests/privacy_e2e.py); ``recorder``: Neovim
        arguments that start another recorder (the LSP shim) in place of the plugin's."""
        self.home, self.ws = home, ws
        setup = f"lua require('crowdcode').setup({{cmd = {{{json.dumps(crowdcode_executable())}, 'nvim'}}}})"
        plugin = ["--cmd", f"set rtp^={PLUGIN}", "-c", setup]
        argv = [str(nvim_binary()), "-u", "NONE", "-i", "NONE", "-n", *(recorder or plugin)]
        env = {
            "CROWDCODE_HOME": str(home),
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
            "XDG_STATE_HOME": str(tmp_path / "state"),  # Neovim's log
        }
        argv = [*argv, "f.txt"]
        super().__init__(on_host(host, argv) if host else argv, ws, env, "nvim", columns)

    def processes(self) -> dict[int, str]:
        """Neovim (TUI and server) and recorder processes of this test that are alive (not zombies)."""
        found = {}
        marker = f"CROWDCODE_HOME={self.home}".encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                if marker not in (entry / "environ").read_bytes().split(b"\0"):
                    continue
            except OSError:
                continue
            command = " ".join(a.decode(errors="replace") for a in argv if a)
            if argv[0].endswith(b"/nvim") or (argv[-2:] == [b"nvim", b""] and b"crowdcode" in b" ".join(argv)):
                found[int(entry.name)] = command
        return found

    def recorder(self) -> int:
        return wait_for(
            lambda: next((pid for pid, cmd in self.processes().items() if cmd.endswith("crowdcode nvim")), None),
            what="the recorder",
        )

    def gone_after(
        self, how: str, action: Callable[[], object], seconds: float = QUIT_SECONDS, status: int | None = 0
    ) -> float:
        """Seconds from ``action`` until every process is gone; fails after ``seconds``, or when
        Neovim's exit status is not ``status`` (None: the terminal itself was closed, so there is
        none to read)."""
        started = time.monotonic()
        action()
        while left := self.processes():
            if time.monotonic() - started > seconds:
                raise AssertionError(f"{how}: still running {seconds} s later: {left}")
            time.sleep(0.01)
        took = time.monotonic() - started
        if status is not None:
            assert self.exited(seconds, "Neovim") == status, f"{how}: Neovim's exit status"
        print(f"{how}: Neovim and the recorder gone in {took:.3f} s")
        return took

    def command(self, text: str) -> None:
        self.type(text)
        self.keys("Enter")

    def close(self) -> None:
        self.kill()
        for pid in self.processes():  # cleanup only: the assertions have been made
            os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def started_tui(home: Path, tmp_path: Path, text: str | None = None, shown: str = "f.txt") -> Iterator[Tui]:
    """Neovim's TUI on ``f.txt`` (holding ``text``, or new), recording, once ``shown`` is on the
    screen; closed after."""
    from crowdcode_sdk.consent import set_consent

    set_consent("declined")  # no consent note on the screen
    ws = tmp_path / "ws"
    ws.mkdir()
    if text is not None:
        (ws / "f.txt").write_text(text)
    tui = Tui(home, ws, tmp_path)
    try:
        wait_for(lambda: Store().sessions(), what="the recorder's session")
        tui.wait_screen(shown)
        yield tui
    finally:
        tui.close()


@pytest.fixture
def tui(home: Path, tmp_path: Path) -> Iterator[Tui]:
    with started_tui(home, tmp_path) as tui:
        yield tui


def insert(tui: Tui, text: str) -> None:
    tui.keys("i")
    tui.wait_screen("-- INSERT --")
    tui.type(text)
    tui.keys("Escape")
    tui.wait_screen("-- INSERT --", present=False)


def write(tui: Tui) -> None:
    tui.type(":w")
    tui.keys("Enter")
    tui.wait_screen("written")


@pytest.mark.parametrize("how", [":wq", "ZZ", ":q after :w", ":qa after :w", ":q!"])
def test_quitting_ends_neovim_the_recorder_and_the_session(tui: Tui, how: str) -> None:
    insert(tui, "typed in the TUI")
    if how == ":wq":
        tui.gone_after(how, lambda: tui.command(":wq"))
    elif how == "ZZ":
        tui.gone_after(how, lambda: tui.type("ZZ"))
    else:
        write(tui)
        if how == ":q!":
            insert(tui, " and discarded")
        tui.gone_after(how, lambda: tui.command(how.split()[0]))
    assert only_session(ended=True).end_reason == "editor closed"
    assert (tui.ws / "f.txt").read_bytes() == b"typed in the TUI\n"


def test_cq_leaves_no_processes(tui: Tui) -> None:
    insert(tui, "never saved")
    tui.gone_after(":cq", lambda: tui.command(":cq"), status=1)
    assert only_session(ended=True).end_reason == "editor closed"
    assert not (tui.ws / "f.txt").exists()


def test_closing_the_terminal_leaves_no_processes(tui: Tui) -> None:
    insert(tui, "never saved")
    # SIGHUP to Neovim, as a closed terminal
    tui.gone_after("SIGHUP", lambda: subprocess.run([*tui.tmux, "kill-server"], check=True), seconds=5, status=None)
    only_session(ended=True)


def test_a_stopped_recorder_does_not_hold_the_quit(tui: Tui) -> None:
    os.kill(tui.recorder(), signal.SIGSTOP)
    insert(tui, "typed while the recorder is stopped")
    tui.gone_after(":qa! with a stopped recorder", lambda: tui.command(":qa!"))
    only_session()  # not restarted; its end depends on the 0.2 s it gets after SIGTERM


def test_a_killed_neovim_leaves_no_recorder(tui: Tui) -> None:
    insert(tui, "typed before the kill")
    (server,) = [pid for pid, cmd in tui.processes().items() if " --embed " in cmd]
    # No VimLeavePre: the recorder learns it from its closed channel.
    # The TUI exits with its server's status: 128 + 9.
    tui.gone_after("SIGKILL", lambda: os.kill(server, signal.SIGKILL), seconds=5, status=128 + signal.SIGKILL)
    assert only_session(ended=True).end_reason == "editor closed"


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM], ids=lambda s: s.name)
def test_a_signalled_recorder_ends_its_session_with_what_was_typed(tui: Tui, signum: signal.Signals) -> None:
    insert(tui, "typed before the signal")
    first = only_session()
    wait_for(lambda: any(e.kind == "edit" for e in Store().events(first)), what="the edit in the journal")
    recorder = tui.recorder()
    os.kill(recorder, signum)
    wait_for(lambda: Store().find(first.id).end is not None, what=f"the session to end after {signum.name}")
    assert Store().find(first.id).end_reason == "editor closed"
    # Neovim starts a new recorder (the old one stopped without being asked): it records on.
    wait_for(lambda: len(Store().sessions()) == 2, what="the restarted recorder's session")
    tui.gone_after(":qa!", lambda: tui.command(":qa!"))
    assert all(info.end_reason == "editor closed" for info in Store().sessions())


def test_the_consent_note_needs_no_enter_on_an_80_column_screen(home: Path, tmp_path: Path) -> None:
    """Consent pending (a new user): one short note at start, and typing works at once."""
    ws = tmp_path / "ws"
    ws.mkdir()
    tui = Tui(home, ws, tmp_path, columns=80)
    try:
        tui.wait_screen("see :CrowdcodeConsent")
        assert "Press ENTER" not in tui.screen()
        insert(tui, "typed at once")
        write(tui)
        tui.gone_after(":q", lambda: tui.command(":q"))
    finally:
        tui.close()
    assert (ws / "f.txt").read_bytes() == b"typed at once\n"
    assert only_session(ended=True).end_reason == "editor closed"


def test_wq_in_a_neovim_that_does_not_own_the_workspace_is_its_save(home: Path, tmp_path: Path) -> None:
    """Another session owns the workspace (as a recorded terminal started first would): Neovim's
    recorder waits in the election. ``:wq``: the owner sees the write and asks the recorder, which
    records the user's ``file_save`` before it ends — and Neovim still quits at once."""
    from crowdcode_sdk import Session
    from crowdcode_sdk.attribution.ownership import WorkspaceCapture
    from crowdcode_sdk.consent import set_consent

    set_consent("declined")
    ws = tmp_path / "ws"
    ws.mkdir()
    with Session(adapter="test-terminal", editor="test", workspace=ws) as owner:
        capture = WorkspaceCapture(owner, ws)
        assert capture.owner
        tui = Tui(home, ws, tmp_path)
        try:
            wait_for(lambda: len(Store().sessions()) == 2, what="the recorder's session")
            tui.wait_screen("f.txt")
            insert(tui, "typed in the TUI")
            tui.gone_after(":wq", lambda: tui.command(":wq"))
        finally:
            tui.close()
        assert capture.engine.drain(10)
        capture.close()
    (nvim,) = [s for s in Store().sessions() if s.metadata["adapter"] == "nvim"]
    assert Store().find(nvim.id).end_reason == "editor closed"
    kinds = [e.kind for e in Store().events(nvim)]
    assert kinds.count("file_save") == 1 and kinds.index("file_save") < kinds.index("file_close"), kinds
    # The owner's journal holds the save as the user's change, naming the session that saved.
    (saved,) = [e.to_wire()["action"] for e in Store().events(Store().find(owner.id)) if e.kind == "file_change"]
    assert (saved["file"], saved["source"], saved["savedIn"]) == ("f.txt", "user", nvim.id)
    assert (ws / "f.txt").read_bytes() == b"typed in the TUI\n"
