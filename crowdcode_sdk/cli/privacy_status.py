"""The privacy part of ``crowdcode status``: uploads, redaction counts, the storage bound."""

from __future__ import annotations

from typing import Any

from ..config import Config
from ..locations import Locations
from ..quota import storage_usage
from ..upload.queue import UploadQueue
from ..upload.stats import read_stats
from ._format import local_time, size


def privacy_status(locations: Locations, config: Config) -> dict[str, Any]:
    stats = read_stats(locations)
    entries = UploadQueue(locations).entries()
    usage = storage_usage(locations, config)
    return {
        "upload": {
            "url": config["upload.url"] or None,
            "queued": sum(1 for e in entries if e.rejected is None),
            "rejected": [e.rejected for e in entries if e.rejected],
            "uploadedBundles": stats.get("uploadedBundles", 0),
            "uploadedEvents": stats.get("uploadedEvents", 0),
            "uploadedBytes": stats.get("uploadedBytes", 0),
            "lastUpload": stats.get("lastUpload"),
            "lastError": stats.get("lastError"),
        },
        "redactions": stats.get("redactions", {}),
        "storage": {"used": usage.used, "limit": usage.limit, "level": usage.level.value, "warning": usage.warning()},
    }


def print_privacy(status: dict[str, Any]) -> None:
    upload = status["upload"]
    if not upload["url"]:
        print("Upload: off (upload.url is not set)")
    else:
        print(
            f"Upload: {upload['uploadedBundles']} bundles ({upload['uploadedEvents']} events, "
            f"{size(upload['uploadedBytes'])}) sent, last {local_time(upload['lastUpload'])}; "
            f"{upload['queued']} queued"
        )
        if upload["lastError"]:
            print(f"  last error: {upload['lastError']}")
        for reason in upload["rejected"]:
            print(f"  !! rejected by the server, kept locally: {reason}")
    redactions = status["redactions"]
    if redactions:
        parts = ", ".join(f"{name} {count}" for name, count in sorted(redactions.items(), key=lambda kv: -kv[1]))
        print(f"Redacted in uploads so far: {sum(redactions.values())} ({parts})")
    else:
        print("Redacted in uploads so far: nothing")
    if status["storage"]["warning"]:
        print(f"!! {status['storage']['warning']}")
