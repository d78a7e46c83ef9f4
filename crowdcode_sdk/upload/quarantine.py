"""Sessions whose recorded data is damaged: noted, uploaded as far as readable, never fatal.

A journal line that is not an event (a disk error, a hand edit, a torn write in the middle of a
segment) is left out of the bundle; data that breaks a session's packing altogether leaves that
session behind. Either way the session is listed in ``<data>/upload/quarantine.json`` with one
line of reason, ``crowdcode status`` shows that line, and every other session goes on.
"""

from __future__ import annotations

import contextlib

import orjson

from ..locations import Locations, private_dir, write_private_atomic

DAMAGE = (ValueError, KeyError, TypeError, AttributeError, IndexError, UnicodeDecodeError)
"""What malformed data raises while it is read, redacted and packed (orjson's decode error is a
ValueError); anything else is a bug and is not hidden."""


class Quarantine:
    def __init__(self, locations: Locations) -> None:
        self.path = locations.data_dir / "upload" / "quarantine.json"

    def sessions(self) -> dict[str, str]:
        """Session id → why it is quarantined."""
        with contextlib.suppress(OSError, orjson.JSONDecodeError):
            found = orjson.loads(self.path.read_bytes())
            if isinstance(found, dict):
                return {str(k): str(v) for k, v in found.items()}
        return {}

    def add(self, session_id: str, reason: str) -> None:
        known = self.sessions()
        if known.get(session_id) != reason:
            known[session_id] = reason
            private_dir(self.path.parent)
            write_private_atomic(self.path, orjson.dumps(known, option=orjson.OPT_INDENT_2))

    def forget(self, session_ids: set[str]) -> None:
        """Sessions deleted (uploaded, panicked, removed) are no longer listed."""
        known = self.sessions()
        if any(s in known for s in session_ids):
            write_private_atomic(self.path, orjson.dumps({k: v for k, v in known.items() if k not in session_ids}))
