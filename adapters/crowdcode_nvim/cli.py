"""``crowdcode nvim``: the recorder that plugins/nvim starts as an RPC job (stdio msgpack-RPC)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import sysconfig
import threading
from pathlib import Path
from typing import Any

from crowdcode_sdk.extras import require

FINISH_BOUND_S = 10.0
"""How long closing the session may take once Neovim said bye or went; then the process ends."""

SIGTERM_ERROR = "Received signal SIGTERM"
"""How pynvim's loop ends on SIGTERM (Neovim stopping a recorder that did not exit in time)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "nvim",
        help="the Neovim recorder (started by the Neovim plugin, speaks msgpack-RPC on stdio)",
        description="Started by the Neovim plugin with jobstart({'crowdcode', 'nvim'}, {rpc = true}); "
        "not meant to be run by hand, except with --print-spec. See docs/nvim.md.",
    )
    p.add_argument(
        "--print-spec",
        action="store_true",
        help="print the lazy.nvim spec and the runtimepath line for the plugin shipped with this install",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.print_spec:
        print(spec(plugin_dir(), recorder_command()))
        return 0
    pynvim = require("pynvim", "nvim", "crowdcode nvim")

    from .host import Host

    if sys.stdin.isatty():
        print("crowdcode nvim is started by the Neovim plugin (see docs/nvim.md), not by hand.", file=sys.stderr)
        return 2
    shield_stdout()
    nvim = pynvim.attach("stdio")

    def reply(message: dict[str, Any]) -> None:
        """Thread-safe: the attribution engine asks for barriers from its own threads."""
        nvim.async_call(nvim.exec_lua, "require('crowdcode')._from_host(...)", message, async_=True)

    host = Host(reply)
    busy = False
    hung_up = False

    def on_hangup(signum: int, frame: object) -> None:
        """SIGHUP (the terminal closed): leave the loop once the batch being handled (if any) is
        done, and ``finally`` closes the session with everything received so far. pynvim handles
        SIGTERM the same way, but ends its loop with a plain Exception."""
        nonlocal hung_up
        hung_up = True
        if not busy:
            nvim.stop_loop()

    def on_notification(method: str, params: list[Any]) -> None:
        nonlocal busy
        busy = True
        try:
            host.notification(method, params)
        finally:
            busy = False
        if host.finished or hung_up:
            nvim.stop_loop()

    def on_request(method: str, params: list[Any]) -> Any:
        raise pynvim.NvimError(f"crowdcode nvim answers no requests (got {method!r})")

    signal.signal(signal.SIGHUP, on_hangup)
    try:
        nvim.run_loop(on_request, on_notification)
    except EOFError:  # the editor closed the channel: it quit or died without saying bye
        pass
    except Exception as exc:
        if str(exc) != SIGTERM_ERROR:
            raise
    finally:
        # Neovim does not wait for this detached process: a finish that hangs must not leave it
        # behind for good.
        bound = threading.Timer(FINISH_BOUND_S, os._exit, (1,))
        bound.daemon = True
        bound.start()
        host.finish("editor closed")
    return 0


def shield_stdout() -> None:
    """Route what this process sends Neovim through a thread that drops it once Neovim is gone.

    On a busy machine this process may still be reading Neovim's last events (the edits and save
    hint of a ``:wq``) when Neovim exits; a write to it then fails, and pynvim ends its loop on
    that failure, before the events still in the pipe are read. With the shield only the end of
    Neovim's output (its events, then end of file) ends the loop."""
    neovim = os.dup(1)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 1)
    os.close(write_end)

    def copy() -> None:
        gone = False
        while chunk := os.read(read_end, 65536):
            view = memoryview(chunk)
            while view and not gone:
                try:
                    view = view[os.write(neovim, view) :]
                except OSError:  # Neovim exited: what it would have received no longer matters
                    gone = True

    threading.Thread(target=copy, name="crowdcode-to-neovim", daemon=True).start()


def plugin_dir() -> Path:
    """The Lua plugin inside the installed package (package data), so Neovim needs no checkout."""
    return (Path(__file__).parent / "plugin").resolve()


def recorder_command() -> str:
    """This installation's ``crowdcode``, by absolute path: Neovim started from a desktop menu may
    not have the PATH of the shell that installed it."""
    own = Path(sysconfig.get_path("scripts")) / "crowdcode"
    if os.access(own, os.X_OK):
        return str(own)
    return shutil.which("crowdcode") or "crowdcode"


def spec(plugin: Path, command: str) -> str:
    """Copy-paste Lua for lazy.nvim, or for init.lua without a plugin manager."""

    def lua(text: str) -> str:  # a JSON string is a valid Lua string literal
        return json.dumps(text, ensure_ascii=False)

    opts = f"{{ cmd = {{ {lua(command)}, 'nvim' }} }}"
    return "\n".join(
        [
            "-- lazy.nvim: add this to your plugin specs",
            "{",
            f"  dir = {lua(str(plugin))},",
            "  name = 'crowdcode',",
            "  event = 'VeryLazy',",
            f"  opts = {opts},",
            "  config = function(_, opts) require('crowdcode').setup(opts) end,",
            "}",
            "",
            "-- or, without a plugin manager, in init.lua:",
            f"vim.opt.runtimepath:append({lua(str(plugin))})",
            f"require('crowdcode').setup({opts})",
        ]
    )
