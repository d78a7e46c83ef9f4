"""Shared presentation helpers for the CLI's human-readable output."""

from __future__ import annotations

import datetime as dt

from ..locations import Locations
from ..upload.stats import read_stats


def local_time(epoch_ms: int | None, *, date: bool = True) -> str:
    if epoch_ms is None:
        return "-"
    moment = dt.datetime.fromtimestamp(epoch_ms / 1000).astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S" if date else "%H:%M:%S.%f")[: None if date else -3]


def duration(ms: int | None) -> str:
    if ms is None:
        return "-"
    seconds = ms // 1000
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def size(nbytes: int) -> str:
    value = float(nbytes)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def no_sessions(locations: Locations | None = None) -> str:
    """What an empty session list means: nothing recorded yet, or all of it uploaded (local data
    goes once the server acknowledged it, which left a newcomer's list empty after an upload)."""
    bundles = read_stats(locations or Locations.default()).get("uploadedBundles", 0)
    if bundles:
        return (
            f"No sessions on this machine: {bundles} bundle{'s' if bundles != 1 else ''} uploaded so far, "
            "each deleted here once the server acknowledged it."
        )
    return "No sessions recorded yet."
