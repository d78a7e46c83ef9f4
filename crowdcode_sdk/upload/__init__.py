"""Upload: bundles of redacted, held-back data, sent to an ingest server with retries.

- :mod:`.prepare` chooses what may leave and packs it (through :mod:`crowdcode_sdk.redaction`);
- :mod:`.bundle` is the bundle format and its validation (shared with the server);
- :mod:`.queue` keeps built bundles and their retry state on disk;
- :mod:`.client` speaks the ingest protocol; :mod:`.worker` ties it together.
"""

from .bundle import BundleError, Limits, read_bundle
from .client import IngestClient, UploadError
from .queue import Entry, UploadQueue
from .worker import Report, Uploader, ensure_background, read_stats

__all__ = [
    "BundleError",
    "Entry",
    "IngestClient",
    "Limits",
    "Report",
    "UploadError",
    "UploadQueue",
    "Uploader",
    "ensure_background",
    "read_bundle",
    "read_stats",
]
