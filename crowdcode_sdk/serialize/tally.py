"""What a session holds, counted as the serializer reads it: for dataset cards and filtering."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

IDLE_MS = 5 * 60 * 1000
"""A pause longer than this is not activity: hours of activity add up the gaps shorter than it."""


@dataclass
class Tally:
    kinds: Counter[str] = field(default_factory=Counter)
    """Events per kind (an action's kind, else the event type)."""
    edit_sources: Counter[str] = field(default_factory=Counter)
    first_ms: int | None = None
    last_ms: int | None = None
    active_ms: int = 0

    def counting(self, events: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """``events`` unchanged, each counted as it goes by."""
        for event in events:
            action = event.get("action")
            kind = action.get("kind") if isinstance(action, dict) else event.get("type")
            self.kinds[str(kind)] += 1
            if isinstance(action, dict) and kind in ("edit", "file_change"):
                self.edit_sources[str(action.get("source") or "user")] += 1
            at = event.get("timestamp")
            if isinstance(at, int):
                if self.last_ms is not None and 0 <= at - self.last_ms <= IDLE_MS:
                    self.active_ms += at - self.last_ms
                self.first_ms = at if self.first_ms is None else self.first_ms
                self.last_ms = at
            yield event

    def to_json(self) -> dict[str, Any]:
        return {
            "kinds": dict(self.kinds),
            "edit_sources": dict(self.edit_sources),
            "first_ms": self.first_ms,
            "last_ms": self.last_ms,
            "active_ms": self.active_ms,
        }
