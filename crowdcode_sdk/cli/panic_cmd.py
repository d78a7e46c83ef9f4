"""``crowdcode panic``: remove the recent past from every session, before it can leave."""

from __future__ import annotations

import argparse

from ..clock import MachineTime
from ..locations import Locations
from ..session import panic_everywhere


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "panic",
        help="delete the last 10 s of recording (again within 3 s: 20 s, 30 s, ...)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    report = panic_everywhere(Locations.default(), MachineTime.now())
    reach = report.presses * 10
    print(
        f"Removed {report.removed} events (the last {reach} s) from {report.sessions} "
        f"session{'s' if report.sessions != 1 else ''}. Press again within 3 s to reach 10 s further back."
    )
    return 0
