"""The configuration: one TOML file of dotted keys, each declared here with its type and default.

Declaring every key in one table gives ``crowdcode config`` a complete listing, lets
``crowdcode config set`` validate a value before writing it, and turns a typo in the file into a
clear error instead of a silently ignored setting.

Every command reads the file, ``crowdcode shell`` before the user's shell starts, and importing
``tomllib`` (with ``datetime`` and ``string``) cost more than the rest of reading it. So the
file's values are also kept as JSON in the runtime directory, with the file's modification time,
size and inode: while those match, the file is not parsed (docs/shell.md, "Start-up").
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from .errors import ConfigError
from .locations import Locations, write_private_atomic


class Key(NamedTuple):  # not a dataclass: read at every start (locations.py says why)
    name: str
    type: type[Any]
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    schemes: tuple[str, ...] = ()
    """For a URL: what ``crowdcode config set`` takes it to start with (empty is always taken)."""

    def parse(self, text: str) -> Any:
        """Turn a command-line string into this key's type."""
        if self.type is bool:
            lowered = text.strip().lower()
            if lowered in ("true", "yes", "on", "1"):
                return True
            if lowered in ("false", "no", "off", "0"):
                return False
            raise ConfigError(f"{self.name}: expected true or false, got {text!r}")
        if self.type is int:
            try:
                return self.check(int(text))
            except ValueError:
                raise ConfigError(f"{self.name}: expected an integer, got {text!r}") from None
        if self.schemes and text and not text.startswith(self.schemes):
            # Checked when set, not when read: a file written before must not stop a recorder.
            raise ConfigError(f"{self.name}: expected a URL starting with {' or '.join(self.schemes)}, got {text!r}")
        return self.check(text)

    def check(self, value: Any) -> Any:
        if self.type is int and (type(value) is not int):
            raise ConfigError(f"{self.name}: expected an integer, got {value!r}")
        if not isinstance(value, self.type):
            raise ConfigError(f"{self.name}: expected {self.type.__name__}, got {value!r}")
        if self.choices and value not in self.choices:
            raise ConfigError(f"{self.name}: expected one of {', '.join(self.choices)}, got {value!r}")
        if self.minimum is not None and value < self.minimum:
            raise ConfigError(f"{self.name}: must be >= {self.minimum}, got {value!r}")
        return value


KEYS: dict[str, Key] = {
    k.name: k
    for k in (
        Key("recording.enabled", bool, True, "Record at all; `crowdcode off` sets it to false."),
        Key(
            "consent.status",
            str,
            "pending",
            "Whether data may leave this machine. Only `accepted` allows uploads.",
            choices=("pending", "accepted", "declined"),
        ),
        Key(
            "journal.fsync",
            str,
            "interval",
            "always: fsync each event before record() returns; interval: write and fsync every "
            "flush interval; never: write every flush interval and let the OS decide.",
            choices=("always", "interval", "never"),
        ),
        Key(
            "journal.flush_interval_ms",
            int,
            500,
            "How often buffered events reach the journal: the most a crash (kill -9) can lose.",
            minimum=1,
        ),
        Key("journal.segment_max_bytes", int, 16 * 1024 * 1024, "Start a new segment past this size.", minimum=4096),
        Key("journal.segment_max_age_s", int, 600, "Start a new segment after this many seconds.", minimum=1),
        Key(
            "journal.max_buffered_events",
            int,
            200_000,
            "Events held in memory while the disk is slow or full; past it, events are counted as lost.",
            minimum=1,
        ),
        Key(
            "privacy.hold_back_s",
            int,
            900,
            "Nothing leaves the machine before it is this old, so that panic can still remove it.",
            minimum=0,
        ),
        Key(
            "upload.url",
            str,
            "",
            "The ingest server's base URL; empty means never upload.",
            schemes=("http://", "https://"),
        ),
        Key(
            "attribution.max_file_bytes",
            int,
            1024 * 1024,
            "Workspace files larger than this are noted (size only), never read, diffed or snapshotted.",
            minimum=1,
        ),
        Key("snapshots.enabled", bool, True, "Snapshot the workspace at start and before each agent edit batch."),
        Key(
            "snapshots.max_total_bytes",
            int,
            256 * 1024 * 1024,
            "At most this many bytes of file content per snapshot; files past it are listed as skipped.",
            minimum=0,
        ),
        Key(
            "upload.background",
            bool,
            True,
            "Upload from a background thread of every recording process; false: only `crowdcode upload --now`.",
        ),
        Key("upload.interval_s", int, 300, "How often the background uploader looks for eligible data.", minimum=1),
        Key(
            "upload.bundle_max_bytes",
            int,
            32 * 1024 * 1024,
            "Target size of one bundle before compression (a single larger file still goes alone).",
            minimum=1024,
        ),
        Key("upload.timeout_s", int, 60, "Network timeout of one upload request.", minimum=1),
        Key("upload.retry_base_s", int, 5, "First retry delay after a failed upload; doubles per failure.", minimum=0),
        Key("upload.retry_max_s", int, 3600, "Longest delay between retries of one bundle.", minimum=1),
        Key(
            "storage.max_bytes",
            int,
            4 * 1024 * 1024 * 1024,
            "Bound on local data; `crowdcode status` warns at 90% and new recordings do not start past it.",
            minimum=1024 * 1024,
        ),
        Key(
            "shell.workspace",
            bool,
            True,
            "`crowdcode shell` in a git working tree records its file changes (one watcher per workspace).",
        ),
        Key(
            "observe.rate_hz",
            int,
            10,
            "Most observations (viewport, terminal screen) recorded per second per stream; the last "
            "state after a burst is always recorded.",
            minimum=1,
        ),
        Key(
            "shell.screen",
            bool,
            True,
            "`crowdcode shell` records the rendered screen (at observe.rate_hz, when it changed).",
        ),
        Key(
            "shell.record_input",
            bool,
            True,
            "`crowdcode shell` records typed input (never while the terminal hides it, as at password prompts).",
        ),
    )
}


class Config(Mapping[str, Any]):
    """The effective configuration: defaults overlaid with the file's values."""

    def __init__(self, values: Mapping[str, Any] | None = None, path: Any = None) -> None:
        self._values = {name: key.default for name, key in KEYS.items()}
        self.path = path
        for name, value in (values or {}).items():
            self._values[name] = _key(name).check(value)

    @classmethod
    def load(cls, locations: Locations | None = None) -> Config:
        locations = locations or Locations.default()
        path = locations.config_file
        try:
            stamp = os.stat(path)
        except FileNotFoundError:
            return cls(path=path)
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from None
        key = [stamp.st_mtime_ns, stamp.st_size, stamp.st_ino]
        cache = locations.runtime_dir / CACHE_FILE
        values = _cached(cache, key)
        if values is None:
            values = _parse(path)
            with contextlib.suppress(OSError, TypeError, ValueError):  # a value JSON cannot hold
                write_private_atomic(cache, json.dumps({"key": key, "values": values}).encode())
        return cls(values, path=path)

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def explicit(self) -> dict[str, Any]:
        """The values that differ from the defaults: what the file needs to hold."""
        return {n: v for n, v in self._values.items() if v != KEYS[n].default}


CACHE_FILE = "config.json"


def _cached(cache: Path, key: list[int]) -> dict[str, Any] | None:
    """The values kept for the file as it is now, or ``None``."""
    try:
        stored = json.loads(cache.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(stored, dict) or stored.get("key") != key or not isinstance(stored.get("values"), dict):
        return None
    return stored["values"]


def _parse(path: Path) -> dict[str, Any]:
    import tomllib  # only when the file changed since it was last read (see the module's docstring)

    try:
        return _flatten(tomllib.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None


def set_value(locations: Locations, name: str, text: str) -> Any:
    """Validate and write one key; returns the parsed value."""
    value = _key(name).parse(text)
    current = Config.load(locations)
    values = {**current.explicit(), name: value}
    import tomli_w  # only when writing: every command reads the configuration, few write it

    write_private_atomic(locations.config_file, tomli_w.dumps(_nest(values)).encode())
    return value


def _key(name: str) -> Key:
    try:
        return KEYS[name]
    except KeyError:
        raise ConfigError(f"unknown configuration key {name!r}; known: {', '.join(KEYS)}") from None


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for name, value in flat.items():
        *tables, leaf = name.split(".")
        node = nested
        for table in tables:
            node = node.setdefault(table, {})
        node[leaf] = value
    return nested
