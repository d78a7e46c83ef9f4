"""What the wrapper tells the recorder process about the terminal it records.

A module of its own so that the wrapper can describe the recorder before importing it: the
recorder's imports (the session, the schema, the emulator) are paid after the user's shell has
been started. A NamedTuple, not a dataclass, for the same reason: a dataclass costs the wrapper
``dataclasses``' import and a millisecond or more to build its methods.
"""

from __future__ import annotations

from typing import NamedTuple


class RecorderSpec(NamedTuple):
    """What the wrapper tells the recorder about the terminal it records."""

    terminal_id: str
    terminal_name: str
    argv: list[str]
    shell: str | None  # integrated shell kind
    nonce: str
    cols: int
    rows: int
    master: int
    child_pid: int
    workspace: str
    start_monotonic: float
    env: dict[str, str]
    observe_screen: bool = True
    outer_terminal: str | None = None
    """The recorded terminal this one runs in, through tmux or screen: keys typed here reach that
    terminal's recorder too (as keys for the multiplexer's client)."""
