"""Time: epoch-millisecond timestamps that never go backwards, and the machine's clock that
privacy windows are decided on.

A session's timestamps are its start on the wall clock plus ``CLOCK_MONOTONIC`` since then, so that
order and durations hold when NTP or the user moves the wall clock. Every process on the machine
reads the same ``CLOCK_MONOTONIC`` (until a reboot), so a session records its :class:`Anchor` —
one moment read on both clocks — and any other process can tell what any of its timestamps means
on that clock: the panic button's reach and the hold-back window (docs/privacy.md, "One clock")
are measured there, never by comparing one process's wall clock with another's.

``CLOCK_MONOTONIC`` stands still while the machine sleeps. For these windows that is the point:
what was typed just before the lid closed is, on waking, as recent as it was — the person had no
chance to press panic while asleep, so it is neither uploaded at once nor out of the panic's reach.
After a reboot the clock starts again from zero: a session of an earlier boot is older than the
time this boot has been up (:meth:`Anchor.now_ms`), a bound that only errs towards holding back.
"""

from __future__ import annotations

import contextlib
import functools
import time
from dataclasses import dataclass
from typing import Any


@functools.cache
def boot_id() -> str:
    """This boot's id (Linux); empty where there is none, which reads as "another boot"."""
    with contextlib.suppress(OSError), open("/proc/sys/kernel/random/boot_id") as f:
        return f.read().strip()
    return ""


@dataclass(frozen=True)
class MachineTime:
    """A moment on the machine's monotonic clock, shared by every process of this boot."""

    monotonic_ms: int
    boot: str

    @classmethod
    def now(cls) -> MachineTime:
        return cls(time.monotonic_ns() // 1_000_000, boot_id())

    def minus(self, ms: int) -> MachineTime:
        return MachineTime(self.monotonic_ms - ms, self.boot)

    def to_wire(self) -> dict[str, Any]:
        return {"monotonicMs": self.monotonic_ms, "bootId": self.boot}

    @classmethod
    def from_wire(cls, data: Any) -> MachineTime:
        """Raises ``ValueError`` for anything but the shape :meth:`to_wire` writes."""
        try:
            return cls(int(data["monotonicMs"]), str(data["bootId"]))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a machine time: {data!r}") from exc


@dataclass(frozen=True)
class Anchor:
    """A session's start on both clocks: maps its timestamps to and from :class:`MachineTime`."""

    wall_ms: int
    at: MachineTime

    def timestamp(self, moment: MachineTime) -> int | None:
        """``moment`` as a timestamp of this session; ``None`` when it is of another boot."""
        if moment.boot != self.at.boot or not moment.boot:
            return None
        return self.wall_ms + moment.monotonic_ms - self.at.monotonic_ms

    def now_ms(self, now: MachineTime, latest_ms: int) -> int:
        """Now, on this session's timestamps. ``latest_ms``: its newest timestamp, for a session of
        an earlier boot, which is at least as old as this boot's uptime."""
        mapped = self.timestamp(now)
        return mapped if mapped is not None else latest_ms + max(now.monotonic_ms, 0)

    def to_wire(self) -> dict[str, Any]:
        return {"wallMs": self.wall_ms, **self.at.to_wire()}

    @classmethod
    def from_wire(cls, data: Any) -> Anchor:
        """Raises ``ValueError`` for anything but the shape :meth:`to_wire` writes."""
        try:
            return cls(int(data["wallMs"]), MachineTime.from_wire(data))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a clock anchor: {data!r}") from exc


class Clock:
    anchor: Anchor | None = None
    """Where this clock's timestamps sit on the machine's clock (``None``: nowhere, a clock set by
    hand)."""

    def __init__(self) -> None:
        self._wall_ns = time.time_ns()
        self._mono_ns = time.monotonic_ns()
        self.anchor = Anchor(self._wall_ns // 1_000_000, MachineTime(self._mono_ns // 1_000_000, boot_id()))

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
