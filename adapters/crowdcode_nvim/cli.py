"""``crowdcode nvim``: the recorder that plugins/nvim starts as an RPC job (stdio msgpack-RPC)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from typing import Any

FINISH_BOUND_S = 10.0
"""How long closing the session may take once Neovim said bye or went; then the process ends."""

SIGTERM_ERROR = "Received signal SIGTERM"
"""How pynvim's loop ends on SIGTERM (Neovim stopping a recorder that did not exit in time)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "nvim",
        help="the Neovim recorder (started by the Neovim plugin, speaks msgpack-RPC on stdio)",
        description="Started by plugins/nvim with jobstart({'crowdcode', 'nvim'}, {rpc = true}); "
        "not meant to be run by hand. See docs/nvim.md.",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import pynvim

    from .host import Host

    if sys.stdin.isatty():
        print("crowdcode nvim is started by the Neovim plugin (see docs/nvim.md), not by hand.", file=sys.stderr)
        return 2
    nvim = pynvim.attach("stdio")

    def reply(message: dict[str, Any]) -> None:
        nvim.exec_lua("require('crowdcode')._from_host(...)", message, async_=True)

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
