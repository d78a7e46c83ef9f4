"""``crowdcode lsp``: start the language-server shim (stdio by default, TCP for debugging)."""

from __future__ import annotations

import argparse
import logging
import sys

from crowdcode_sdk.errors import CrowdcodeError
from crowdcode_sdk.extras import require


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "lsp",
        help="language server that records edits from any LSP client (VS Code, Neovim, Helix, Zed, ...)",
        description="Speak LSP on stdin/stdout (or TCP) and record what the client does to its documents.",
    )
    p.add_argument("--stdio", action="store_true", help="use stdin/stdout (the default; language clients pass it)")
    p.add_argument("--tcp", metavar="HOST:PORT", help="listen on HOST:PORT instead (for debugging)")
    p.add_argument("--log-file", metavar="FILE", help="write the server's log here instead of stderr")
    p.add_argument("--verbose", action="store_true", help="log every message")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    for module in ("pygls", "lsprotocol"):
        require(module, "lsp", "crowdcode lsp")
    tcp = None
    if args.tcp:
        host, _, port = args.tcp.rpartition(":")
        if not host or not port.isdigit():
            raise CrowdcodeError(f"--tcp: expected HOST:PORT, got {args.tcp!r}")
        tcp = (host, int(port))
    configure_logging(args.log_file, args.verbose)
    if tcp is not None:
        from .server import serve

        serve(tcp=tcp)
        return 0
    # The session starts from the first message, before the server's own imports (prestart.py).
    from .prestart import prestart

    stdin, early = prestart(sys.stdin.buffer)
    from .server import serve

    serve(stdin=stdin, early=early)
    return 0


def configure_logging(path: str | None, verbose: bool) -> None:
    """Log to a file or stderr; never stdout, which carries the protocol in stdio mode."""
    handler: logging.Handler = logging.FileHandler(path) if path else logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.getLogger("crowdcode").setLevel(logging.DEBUG if verbose else logging.INFO)
