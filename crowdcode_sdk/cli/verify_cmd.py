"""``crowdcode verify SESSION…|--all [--json]``: does each recording rebuild what was on disk?"""

from __future__ import annotations

import argparse
import sys

import orjson

from ..errors import CrowdcodeError
from ..store import SessionInfo, Store
from ..verification import Verdict, verify


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
    if args.all == bool(args.sessions):
        raise CrowdcodeError("give session ids or --all (not both)")
    infos: list[SessionInfo | str] = list(store.sessions()) if args.all else list(args.sessions)
    results: list[dict] = []
    status = 0
    for ref in infos:
        try:
            info = ref if isinstance(ref, SessionInfo) else store.find(ref)
            verdict: Verdict | None = verify(info, store)
        except CrowdcodeError as exc:  # one unreadable session never stops the others
            results.append({"session": getattr(ref, "id", ref), "verified": False, "error": str(exc)})
            if not args.json:
                print(f"{getattr(ref, 'id', ref)}  error: {exc}")
            status = 2
            continue
        assert verdict is not None
        results.append(verdict.to_json())
        if not args.json:
            print(verdict.summary())
        if not verdict.ok and status == 0:
            status = 1
    if args.json:
        sys.stdout.write(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode() + "\n")
    elif args.all and not infos:
        print("No sessions recorded yet.")
    return status
