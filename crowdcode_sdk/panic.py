"""The panic button's escalation, shared by every adapter and the CLI.

crowd-code's rule: a press removes the last 10 s; each further press within 3 s of the previous
one reaches 10 s further back (20 s, 30 s, …). The press history lives in the runtime directory
so that presses in different editors and ``crowdcode panic`` escalate together.

Presses are times on the machine's clock (:class:`~crowdcode_sdk.clock.MachineTime`), never a
process's wall clock: each session turns the cutoff into its own timestamps, so a recorder whose
wall clock is an hour off still loses exactly the last 10 s.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass

import orjson

from .clock import MachineTime
from .locations import Locations, open_private, private_dir

STEP_MS = 10_000
ESCALATION_WINDOW_MS = 3_000


def reach_ms(presses: int) -> int:
    """How far back the ``presses``-th consecutive press reaches."""
    return presses * STEP_MS


@dataclass(frozen=True)
class Press:
    at: MachineTime
    """When the press happened."""
    presses: int
    """Consecutive presses so far, this one included."""

    @property
    def cutoff(self) -> MachineTime:
        """Events at or after this moment are removed."""
        return self.at.minus(reach_ms(self.presses))


def press(locations: Locations, now: MachineTime) -> Press:
    """Register a press and return how far it reaches, escalating within the window."""
    path = private_dir(locations.runtime_dir) / PRESSES
    fd = open_private(path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        last, count = _read(fd)
        escalates = (
            last is not None
            and last.boot == now.boot
            and 0 <= now.monotonic_ms - last.monotonic_ms <= ESCALATION_WINDOW_MS
        )
        presses = count + 1 if escalates else 1
        data = orjson.dumps({"lastPress": now.to_wire(), "presses": presses})
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        return Press(now, presses)
    finally:
        os.close(fd)


def last_press(locations: Locations) -> Press | None:
    """The latest press registered, if any: a recorder that sets its session up late (after a flood
    at its start) finds here a press its session was not there to receive."""
    try:
        fd = os.open(locations.runtime_dir / PRESSES, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        last, count = _read(fd)
    finally:
        os.close(fd)
    return Press(last, count) if last is not None and count > 0 else None


PRESSES = "panic.json"


def _read(fd: int) -> tuple[MachineTime | None, int]:
    raw = os.pread(fd, 4096, 0)
    try:
        state = orjson.loads(raw) if raw else {}
        return MachineTime.from_wire(state["lastPress"]), int(state["presses"])
    except (ValueError, KeyError, TypeError):
        return None, 0
