"""Keys typed into a recorded pane of tmux or screen are that pane's input, not the outer terminal's.

With ``crowdcode shell`` → tmux → ``crowdcode shell`` (the always-on recipes together), a key
typed into the pane passes through both wrappers: the outer one sees it sent to the tmux client,
the pane's own one sees it arrive in the pane. The pane's session records it (with the command
or agent prompt it belongs to); the outer session would count it a second time. So the outer
recorder records no ``terminal_input`` while the terminal's foreground program is a multiplexer
client and a live session's terminal names this terminal as its ``outer`` one (the pane's wrapper
publishes it, :attr:`.recorder_spec.RecorderSpec.outer_terminal`). The raw stream (the cast's
``"i"``) keeps every key: it is the outer terminal's byte-exact record.

Limit: with several panes, keys typed into a pane that is not recorded (another program started
with ``tmux new-window CMD``) are then in neither session's ``terminal_input``; tmux cannot be
asked cheaply per key which pane has the focus.
"""

from __future__ import annotations

import os
import time

from crowdcode_sdk import Locations
from crowdcode_sdk.registry import live_sessions

from .foreground import read_argv

MULTIPLEXERS = frozenset({"tmux", "screen"})
REFRESH_S = 1.0
"""How long the answer "a recorded pane runs inside this terminal" is reused: the registry is a
directory of files, and input comes a key at a time. "No" is not reused: the pane's recorder
registers a moment after its prompt shows."""


class NestedPanes:
    """Whether keys typed now belong to a recorded pane inside this terminal."""

    def __init__(self, master: int, terminal_id: str) -> None:
        self._master = master
        self._terminal_id = terminal_id
        self._checked = -REFRESH_S
        self._nested = False

    def own_the_input(self) -> bool:
        try:
            argv = read_argv(os.tcgetpgrp(self._master))
        except OSError:
            return False
        if not argv or os.path.basename(argv[0]) not in MULTIPLEXERS:
            return False
        now = time.monotonic()
        if not self._nested or now - self._checked >= REFRESH_S:  # a pane may have just registered
            self._checked = now
            self._nested = any(
                (entry.get("terminal") or {}).get("outer") == self._terminal_id
                for entry in live_sessions(Locations.default())
            )
        return self._nested
