"""``crowdcode nvim``: the recorder that plugins/nvim starts as an RPC job (stdio msgpack-RPC)."""

from __future__ import annotations

import argparse
import sys
from typing import Any


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

    def on_notification(method: str, params: list[Any]) -> None:
        host.notification(method, params)
        if host.finished:
            nvim.stop_loop()

    def on_request(method: str, params: list[Any]) -> Any:
        raise pynvim.NvimError(f"crowdcode nvim answers no requests (got {method!r})")

    try:
        nvim.run_loop(on_request, on_notification)
    except EOFError:  # the editor closed the channel: it quit or died without saying bye
        pass
    finally:
        host.finish("editor closed")
    return 0
