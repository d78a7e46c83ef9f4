"""Epoch-millisecond timestamps that never go backwards.

The wall clock is read once, at construction; after that time advances with the monotonic
clock, so that order and durations hold when NTP or the user moves the wall clock.
"""

from __future__ import annotations

import time


class Clock:
    def __init__(self) -> None:
        self._wall_ns = time.time_ns()
        self._mono_ns = time.monotonic_ns()

    def now_ms(self) -> int:
        return (self._wall_ns + time.monotonic_ns() - self._mono_ns) // 1_000_000


class SetClock(Clock):
    """A clock that reads whatever time it was last set to, never going backwards.

    For importers (``crowdcode import``) that rebuild a session through :class:`Session` with the
    original timestamps.
    """

    def __init__(self, start_ms: int) -> None:
        self._ms = start_ms

    def set(self, ms: int) -> int:
        self._ms = max(self._ms, ms)
        return self._ms

    def now_ms(self) -> int:
        return self._ms
