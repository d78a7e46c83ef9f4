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
