"""The bound on local storage: how much the data directory holds and how close it is to the limit.

Recording never deletes unuploaded data to make room (that would lose what the user agreed to
contribute, or keep what they wanted gone); instead status warns when the bound is near and new
recordings do not start once it is reached (see :func:`crowdcode_sdk.consent.recording_allowed`).
"""

from __future__ import annotations

import contextlib
import enum
import os
from typing import NamedTuple

from .config import Config
from .locations import Locations

WARN_FRACTION = 0.9


class Level(enum.StrEnum):
    OK = "ok"
    NEAR = "near"
    FULL = "full"


class StorageUsage(NamedTuple):  # not a dataclass: imported at every start (locations.py says why)
    used: int
    limit: int

    @property
    def level(self) -> Level:
        if self.used >= self.limit:
            return Level.FULL
        if self.used >= self.limit * WARN_FRACTION:
            return Level.NEAR
        return Level.OK

    def warning(self) -> str | None:
        """One line for the user when the bound is near or reached, else ``None``."""
        percent = 100 * self.used // max(self.limit, 1)
        if self.level is Level.FULL:
            return (
                f"local storage is full ({percent}% of storage.max_bytes): new recordings will not start until "
                "data is uploaded (crowdcode upload --now) or the bound is raised"
            )
        if self.level is Level.NEAR:
            return f"local storage is at {percent}% of storage.max_bytes; upload or raise the bound soon"
        return None


def directory_size(path: os.PathLike[str] | str) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def storage_usage(locations: Locations, config: Config | None = None) -> StorageUsage:
    config = config or Config.load(locations)
    return StorageUsage(directory_size(locations.data_dir), config["storage.max_bytes"])
