"""``crowdcode consent accept|decline|status`` and ``crowdcode off|on``."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from ..config import Config, set_value
from ..consent import (
    CONSENT_EXPLANATION,
    OPT_OUT_FILE,
    Consent,
    ask_consent,
    consent_status,
    opt_out_file,
    set_consent,
    terminal_prompt,
)
from ..locations import Locations
from ..upload.queue import UploadQueue

MEANING = {
    Consent.ACCEPTED: "uploads allowed: data older than the hold-back window is redacted and uploaded",
    Consent.DECLINED: "everything stays on this machine",
    Consent.PENDING: "not answered yet: nothing is uploaded",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("consent", help="allow or refuse uploading your recordings")
    p.add_argument(
        "answer",
        nargs="?",
        choices=("accept", "decline", "status", "ask"),
        default="status",
        help="ask: the prompt adapters show on first use (only in a terminal)",
    )
    p.set_defaults(run=consent)
    off = subparsers.add_parser("off", help="stop recording (everywhere, or in one workspace)")
    off.add_argument("--workspace", type=Path, help=f"only this workspace: creates {OPT_OUT_FILE} in it")
    off.set_defaults(run=turn_off)
    on = subparsers.add_parser("on", help="record again (everywhere, or in one workspace)")
    on.add_argument("--workspace", type=Path, help=f"only this workspace: removes its {OPT_OUT_FILE}")
    on.set_defaults(run=turn_on)


def consent(args: argparse.Namespace) -> int:
    locations = Locations.default()
    if args.answer == "ask":
        status = ask_consent(terminal_prompt, locations)
        print(f"Consent: {status} ({MEANING[status]})")
        return 0
    if args.answer == "status":
        status = consent_status(locations)
        print(f"Consent: {status} ({MEANING[status]})")
        if status is Consent.PENDING:
            print(CONSENT_EXPLANATION)
        return 0
    status = set_consent(Consent.ACCEPTED if args.answer == "accept" else Consent.DECLINED, locations)
    if status is Consent.DECLINED:
        dropped = UploadQueue(locations).clear()
        if dropped:
            print(f"Dropped {dropped} prepared bundle{'s' if dropped != 1 else ''}; the recordings stay local.")
    print(f"Consent: {status} ({MEANING[status]})")
    if status is Consent.ACCEPTED and not Config.load(locations)["upload.url"]:
        # Accepting is the step README names; the server is the other one, easy to miss.
        print("Nothing is sent until upload.url names the server: crowdcode config set upload.url https://…")
    return 0


def turn_off(args: argparse.Namespace) -> int:
    if args.workspace is not None:
        marker = args.workspace.absolute() / OPT_OUT_FILE
        marker.write_text("crowdcode does not record in this folder (delete this file to record again)\n")
        print(f"Recording off for {args.workspace.absolute()} ({marker}).")
        return 0
    set_value(Locations.default(), "recording.enabled", "false")
    print("Recording is off: new sessions will not start (`crowdcode on` turns it back on).")
    return 0


def turn_on(args: argparse.Namespace) -> int:
    locations = Locations.default()
    if args.workspace is not None:
        marker = args.workspace.absolute() / OPT_OUT_FILE
        with contextlib.suppress(FileNotFoundError):
            marker.unlink()
        still = opt_out_file(args.workspace)
        if still is not None:
            print(f"Note: {still} still opts this workspace out.")
            return 1
        print(f"Recording on for {args.workspace.absolute()}.")
        return 0
    set_value(locations, "recording.enabled", "true")
    print("Recording is on.")
    return 0
