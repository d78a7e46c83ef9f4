"""Upload: bundles of redacted, held-back data, sent to an ingest server with retries.

- :mod:`.prepare` chooses what may leave and packs it (through :mod:`crowdcode_sdk.redaction`);
- :mod:`.bundle` is the bundle format and its validation (shared with the server);
- :mod:`.queue` keeps built bundles and their retry state on disk; :mod:`.stats` what was sent;
- :mod:`.client` speaks the ingest protocol; :mod:`.worker` ties it together.

Names are imported lazily: every ``crowdcode`` command loads the CLI modules that mention the
uploader, and detect-secrets and httpx cost half a second to import.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "BundleError": "bundle",
    "Limits": "bundle",
    "read_bundle": "bundle",
    "IngestClient": "client",
    "UploadError": "client",
    "Entry": "queue",
    "UploadQueue": "queue",
    "read_stats": "stats",
    "Report": "worker",
    "Uploader": "worker",
    "ensure_background": "background",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
