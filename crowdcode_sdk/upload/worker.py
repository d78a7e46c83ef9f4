"""The uploader: builds bundles from eligible data and sends them, in the background or now.

One uploader works at a time per data directory (an ``flock`` on ``<data>/upload/lock``), however
many sessions and ``crowdcode upload --now`` run. Nothing is built or sent unless consent is
``accepted`` and ``upload.url`` is set. Failed sends are retried with exponential backoff and
jitter; the state lives in the queue on disk, so it survives restarts. Local data is deleted only
after the server acknowledged the exact hash of the bundle that carries it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import journal
from ..config import Config
from ..consent import Consent
from ..locations import Locations, install_identity, open_private, private_dir
from . import stats
from .client import IngestClient, Progress, UploadError
from .prepare import BundleBuilder, unreferenced_blobs
from .queue import Entry, UploadQueue, backoff_ms

Log = Callable[[str], None]


@dataclass
class Report:
    """What one run did."""

    skipped: str | None = None
    built: int = 0
    sent: int = 0
    sent_bytes: int = 0
    failed: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    waiting: int = 0


class Uploader:
    def __init__(self, locations: Locations | None = None, log: Log | None = None) -> None:
        self.locations = locations or Locations.default()
        self.queue = UploadQueue(self.locations)
        self.log = log or (lambda message: None)
        self.upload_dir = self.locations.data_dir / "upload"

    # --- one run ----------------------------------------------------------------------------------

    def run_once(
        self,
        *,
        force: bool = False,
        wait: bool = False,
        progress: Callable[[list[Entry]], Progress] | None = None,
    ) -> Report:
        """Build what is eligible and send what is due (everything with ``force``).

        With ``wait`` a run waits for another uploader (a background thread) to finish instead of
        skipping.
        """
        config = Config.load(self.locations)
        if config["consent.status"] != Consent.ACCEPTED:
            return Report(skipped=f"consent is {config['consent.status']}: nothing leaves this machine")
        if not config["upload.url"]:
            return Report(skipped="upload.url is not set")
        with self._exclusive(wait) as locked:
            if not locked:
                return Report(skipped="another uploader is running")
            report = Report()
            report.built = len(BundleBuilder(self.locations, config, self.queue).build())
            self._send(config, report, force, progress)
            return report

    def _send(self, config: Config, report: Report, force: bool, progress: Any) -> None:
        now = time.time_ns() // 1_000_000
        entries = [e for e in self.queue.entries() if e.rejected is None]
        due = [e for e in entries if force or e.next_attempt <= now]
        report.waiting = len(entries) - len(due)
        if not due:
            return
        client = IngestClient(
            config["upload.url"],
            install_identity(self.locations).install_id,
            self.upload_dir / "tokens.json",
            timeout_s=config["upload.timeout_s"],
        )
        advance = progress(due) if progress else None
        try:
            for entry in due:
                if self._waits_for_earlier(entry):
                    report.waiting += 1
                    continue
                try:
                    client.upload(self.queue.bundle_path(entry), entry.sha256, entry.size, advance)
                except UploadError as exc:
                    self._failed(config, entry, exc, report)
                    continue
                self._acknowledged(entry, config)
                report.sent += 1
                report.sent_bytes += entry.size
        finally:
            client.close()

    def _waits_for_earlier(self, entry: Entry) -> bool:
        """A session's last bundle removes its directory on acknowledgement: it waits until every
        earlier bundle of the session was acknowledged, so no segment goes before its own ack."""
        if not entry.final_sessions:
            return False
        directories = tuple(d.rstrip("/") + "/" for d in entry.final_sessions)
        return any(
            segment.startswith(directories)
            for other in self.queue.entries()
            if other.sha256 != entry.sha256
            for segment in other.segments
        )

    def _failed(self, config: Config, entry: Entry, exc: UploadError, report: Report) -> None:
        entry.attempts += 1
        entry.last_error = str(exc)
        if exc.retry:
            delay = backoff_ms(entry.attempts, config["upload.retry_base_s"], config["upload.retry_max_s"])
            entry.next_attempt = time.time_ns() // 1_000_000 + delay
            report.failed.append(f"{entry.sha256[:12]}: {exc} (retry in {delay // 1000} s)")
        else:
            entry.rejected = str(exc)
            report.rejected.append(f"{entry.sha256[:12]}: {exc}")
        self.log(f"upload of {entry.sha256[:12]} failed: {exc}")
        self.queue.save(entry)
        stats.record_failure(self.locations, str(exc))

    def _acknowledged(self, entry: Entry, config: Config) -> None:
        """The server confirmed the exact hash: now, and only now, local data goes."""
        for segment in entry.segments:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(segment)
        for snapshot in entry.snapshots:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(snapshot)
        for directory in entry.final_sessions:
            if not journal.is_live(Path(directory)):
                shutil.rmtree(directory, ignore_errors=True)
        for blob in list(unreferenced_blobs(self.locations, grace_s=config["privacy.hold_back_s"])):
            with contextlib.suppress(FileNotFoundError):
                blob.unlink()
        self.queue.remove(entry)
        stats.record_upload(self.locations, entry)

    @contextlib.contextmanager
    def _exclusive(self, wait: bool) -> Iterator[bool]:
        private_dir(self.upload_dir)
        fd = open_private(self.upload_dir / "lock", os.O_RDWR | os.O_CREAT)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)
