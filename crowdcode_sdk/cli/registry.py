"""The subcommands registered in the ``crowdcode.commands`` entry-point group, found fast.

``importlib.metadata`` costs more to import than the rest of ``crowdcode shell``'s start-up
together (it loads ``email``, ``zipfile``, ``csv`` and ``inspect``), and enumerating entry points
reads every installed distribution's metadata. So the group's names and targets are kept in the
runtime directory, keyed by the interpreter and the modification times of the ``site-packages``
directories on ``sys.path`` (installing or removing a distribution changes them): a
known command is then imported straight from its ``module:attr``. A missing or stale index, an
unknown name, or a target that no longer imports falls back to ``importlib.metadata``, which
rewrites the index. The index is read and written with the standard library's ``json``: orjson's
import (it loads ``dataclasses``, ``uuid``, ``datetime`` and ``json`` itself) cost more than the
few hundred bytes it parses here.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from ..locations import Locations, write_private_atomic

GROUP = "crowdcode.commands"
INDEX_FILE = "commands.json"

Register = Callable[[Any], None]
"""``register(subparsers)`` of a command module."""


def registered(command: str | None) -> list[tuple[str, Callable[[], Register]]]:
    """``(name, load)`` for the entry points named ``command``, or for all of them when it is
    ``None`` or not registered; sorted by name."""
    if command is not None:
        target = _index().get(command)
        if target is not None and _importable(target):
            return [(command, lambda: _load(target))]
    found = _scan()
    chosen = [(name, load) for name, load in found if name == command]
    return chosen or found


def _key() -> list[Any]:
    stamps: list[Any] = [sys.executable]
    for path in sys.path:
        if os.path.basename(path) in ("site-packages", "dist-packages"):
            with contextlib.suppress(OSError):
                stamps.append([path, os.stat(path).st_mtime_ns])
    return stamps


def _index_path() -> Any:
    return Locations.default().runtime_dir / INDEX_FILE


def _index() -> dict[str, str]:
    try:
        stored = json.loads(_index_path().read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(stored, dict) or stored.get("key") != _key():
        return {}
    commands = stored.get("commands")
    return commands if isinstance(commands, dict) else {}


def _importable(target: str) -> bool:
    module = target.partition(":")[0]
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _load(target: str) -> Register:
    module, _, attr = target.partition(":")
    value: Any = importlib.import_module(module)
    for name in attr.split("."):
        value = getattr(value, name)
    return value


def _scan() -> list[tuple[str, Callable[[], Register]]]:
    from importlib.metadata import entry_points

    entries = sorted(entry_points(group=GROUP), key=lambda e: e.name)
    with contextlib.suppress(OSError):  # a read-only or full runtime directory: just slower next time
        index = {"key": _key(), "commands": {entry.name: entry.value for entry in entries}}
        write_private_atomic(_index_path(), json.dumps(index).encode())
    return [(entry.name, entry.load) for entry in entries]
