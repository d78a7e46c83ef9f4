"""``crowdcode verify SESSION…|--all [--json]``: does each recording rebuild what was on disk?"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson

from ..errors import CrowdcodeError
from ..store import SessionInfo, Store
from ..verification import verify
from ._format import no_sessions


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "verify",
        help="check that sessions replay to the content they recorded",
        description="Replay every file of each session from its snapshot or opening text through its edits, "
        "saves and changes, and check every recorded content hash and every edit's bounds. Prints one line "
        "per session; exits 1 if any session has a mismatch, 2 if one cannot be read.",
    )
    p.add_argument("sessions", nargs="*", metavar="SESSION", help="session id, unique id prefix, or 'latest'")
    p.add_argument("--all", action="store_true", help="every recorded session")
    p.add_argument("--json", action="store_true", help="one JSON array of verdicts, for scripts")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    store = Store()
    if args.all and args.sessions:
        raise CrowdcodeError("give session ids or --all, not both")
    if not args.all and not args.sessions:
        raise CrowdcodeError("which sessions? give session ids, 'latest', or --all")
    refs: list[SessionInfo | str] = list(store.sessions()) if args.all else list(args.sessions)
    results = []
    status = 0
    for ref in refs:
        result, line, code = _check(ref, store)
        results.append(result)
        status = max(status, code)
        if not args.json:
            print(line)
    if args.json:
        sys.stdout.write(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode() + "\n")
    elif not refs:
        print(no_sessions())
    return status


def _check(ref: SessionInfo | str, store: Store) -> tuple[dict[str, Any], str, int]:
    """(JSON verdict, its line, exit status) of one session; one unreadable session never stops
    the others."""
    name = ref.id if isinstance(ref, SessionInfo) else ref
    try:
        verdict = verify(ref if isinstance(ref, SessionInfo) else store.find(ref), store)
    except CrowdcodeError as exc:
        return {"session": name, "verified": False, "error": str(exc)}, f"{name}  error: {exc}", 2
    return verdict.to_json(), verdict.summary(), 0 if verdict.ok else 1
