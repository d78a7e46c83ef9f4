"""The background uploader thread that recording processes start.

Kept apart from :mod:`.worker` so that starting a session costs nothing: the thread imports the
uploader (detect-secrets, httpx) itself, off the adapter's start-up path.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from ..config import Config
from ..locations import Locations

_threads: dict[Path, threading.Thread] = {}
_lock = threading.Lock()


def ensure_background(
    locations: Locations, config: Config, log: Callable[[str], None] | None = None
) -> threading.Thread | None:
    """Start this process's uploader thread for ``locations`` unless one runs or upload is off.

    The thread runs the uploader every ``upload.interval_s`` and never raises: a dead server or a
    full disk only delays uploads (the error is logged and shown by ``crowdcode status``).
    """
    if not config["upload.url"] or not config["upload.background"]:
        return None
    with _lock:
        thread = _threads.get(locations.data_dir)
        if thread is not None and thread.is_alive():
            return thread
        thread = threading.Thread(target=_loop, args=(locations, config, log), name="crowdcode-uploader", daemon=True)
        thread.start()
        _threads[locations.data_dir] = thread
        return thread


def _loop(locations: Locations, config: Config, log: Callable[[str], None] | None) -> None:
    from .worker import Uploader

    uploader = Uploader(locations, log)
    while True:
        try:
            uploader.run_once()
        except Exception as exc:  # never let the uploader take the recorder down
            uploader.log(f"uploader: {exc!r}")
        try:
            interval = Config.load(locations)["upload.interval_s"]
        except Exception:  # a broken config file: keep the last good interval
            interval = config["upload.interval_s"]
        time.sleep(interval)
