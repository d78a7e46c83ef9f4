"""``crowdcode config`` and ``crowdcode config set KEY VALUE``."""

from __future__ import annotations

import argparse

from ..config import KEYS, Config, set_value
from ..locations import Locations


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("config", help="show the effective configuration and every path")
    p.set_defaults(run=show)
    sub = p.add_subparsers(dest="config_command", metavar="SUBCOMMAND")
    s = sub.add_parser("set", help="change one key", description="Keys: " + ", ".join(KEYS))
    s.add_argument("key")
    s.add_argument("value")
    s.set_defaults(run=set_key)


def show(args: argparse.Namespace) -> int:
    locations = Locations.default()
    config = Config.load(locations)
    print(f"config file   {locations.config_file}{'' if locations.config_file.exists() else ' (not created yet)'}")
    print(f"data dir      {locations.data_dir}")
    print(f"sessions dir  {locations.sessions_dir}")
    print(f"runtime dir   {locations.runtime_dir}")
    print()
    explicit = config.explicit()
    width = max(len(k) for k in KEYS)
    for name, key in KEYS.items():
        origin = "set" if name in explicit else "default"
        print(f"{name:<{width}}  {config[name]!r:<24} ({origin})  {key.help}")
    return 0


def set_key(args: argparse.Namespace) -> int:
    value = set_value(Locations.default(), args.key, args.value)
    print(f"{args.key} = {value!r}")
    return 0
