"""``crowdcode sessions`` and ``crowdcode show``: what has been recorded."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson

from ..schema import Action, Event, Observation
from ..store import Store
from ._format import duration, local_time, no_sessions


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("sessions", help="list recorded sessions, oldest first")
    p.add_argument("--json", action="store_true", help="one JSON array, for scripts")
    p.set_defaults(run=list_sessions)
    p = subparsers.add_parser("show", help="a readable timeline of one session")
    p.add_argument("session", help="session id, unique id prefix, or 'latest'")
    p.set_defaults(run=show)


def list_sessions(args: argparse.Namespace) -> int:
    sessions = Store().sessions()
    if args.json:
        sys.stdout.write(orjson.dumps([s.to_json() for s in sessions], option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    if not sessions:
        print(no_sessions())
        return 0
    print(f"{'SESSION':<32}  {'ADAPTER':<8} {'EDITOR':<18} {'START':<19}  {'LENGTH':>8} {'EVENTS':>8}  STATE")
    for s in sessions:
        state = "recording" if s.live else (s.end_reason or "")
        length = duration((s.end - s.start) if s.end is not None else None)
        print(
            f"{s.id:<32}  {s.metadata.get('adapter', ''):<8.8} {s.editor:<18.18} {local_time(s.start)}  "
            f"{length:>8} {s.event_count if s.event_count is not None else '-':>8}  {state}"
        )
    return 0


def show(args: argparse.Namespace) -> int:
    store = Store()
    info = store.find(args.session)
    print(f"session {info.id}  {info.editor}  started {local_time(info.start)}")
    for event in store.events(info):
        print(f"{event.sequence:>7}  {local_time(event.timestamp, date=False)}  {describe(event)}")
    return 0


def describe(event: Event) -> str:
    """One line for a human: the kind, the source and the gist of the payload."""
    payload = event.payload
    if isinstance(payload, Observation):
        parts = []
        if payload.viewport is not None:
            v = payload.viewport
            parts.append(f"viewport {v.file}:{v.start_line}-{v.end_line}")
        if payload.active_terminal is not None:
            t = payload.active_terminal
            parts.append(f"terminal {t.name} ({len(t.viewport)} rows)")
        return "observation " + (", ".join(parts) or "(nothing visible)")
    if not isinstance(payload, Action):
        return f"workspace_snapshot {payload.snapshot_id}"
    fields: dict[str, Any] = payload.to_wire()
    kind = fields.pop("kind")
    source = fields.pop("source", None)
    fields.pop("evidence", None)
    head = f"{kind:<20} {source or '':<12}"
    return f"{head} {_gist(fields)}".rstrip()


def _gist(fields: dict[str, Any]) -> str:
    text = orjson.dumps(fields).decode()
    return text if len(text) <= 100 else text[:97] + "..."
