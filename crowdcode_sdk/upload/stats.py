"""What has been uploaded so far, for ``crowdcode status``: ``<data>/upload/stats.json``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson

from ..locations import Locations, write_private_atomic
from .queue import Entry


def _path(locations: Locations) -> Path:
    return locations.data_dir / "upload" / "stats.json"


def read_stats(locations: Locations) -> dict[str, Any]:
    try:
        return orjson.loads(_path(locations).read_bytes())
    except (OSError, ValueError):
        return {}


def record_upload(locations: Locations, entry: Entry) -> None:
    """Count an acknowledged bundle and what its redaction masked."""
    data = read_stats(locations)
    data["uploadedBundles"] = data.get("uploadedBundles", 0) + 1
    data["uploadedBytes"] = data.get("uploadedBytes", 0) + entry.size
    data["uploadedEvents"] = data.get("uploadedEvents", 0) + entry.events
    data["lastUpload"] = time.time_ns() // 1_000_000
    data["lastError"] = None
    redactions = data.setdefault("redactions", {})
    for category, count in entry.redactions.items():
        redactions[category] = redactions.get(category, 0) + count
    write_private_atomic(_path(locations), orjson.dumps(data))


def record_failure(locations: Locations, error: str) -> None:
    data = read_stats(locations)
    data["lastError"] = error
    write_private_atomic(_path(locations), orjson.dumps(data))
