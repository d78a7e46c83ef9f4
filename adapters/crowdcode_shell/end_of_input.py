"""The end of piped input, passed on to the child when it reads, as ``script(1)`` does.

With ``echo make | crowdcode shell``, the wrapper's input ends at once, but the shell has not read
the line yet. An end-of-file character written then does not survive: bash, zsh and fish turn
canonical mode off to edit the line, and an EOF that the kernel had already taken as a line end in
canonical mode is gone by then, so the shell would wait for input forever. So the EOF character is
written only when the child has read everything before it (the PTY's input queue is empty), in
the terminal mode it then reads in, and again whenever another reader takes over: a new
foreground process group (``cat`` reading the rest of the input, then the shell again) or a
change between canonical and raw mode.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
import termios

TIOCGPTPEER = 0x5441
"""Linux: a new descriptor of the PTY's slave side, from the master (``ioctl_tty(2)``)."""
POLL_S = 0.05
"""How often the input queue is looked at while an EOF waits to be sent."""


class PendingEof:
    """Decides when the EOF character goes to the child; one per ended input."""

    def __init__(self, master: int) -> None:
        self._master = master
        self._sent_for: tuple[int, bool] | None = None  # (foreground group, canonical) at the last send

    def due(self) -> bytes:
        """The bytes to write now: the EOF character, or nothing."""
        try:
            attrs = termios.tcgetattr(self._master)
            reader = (os.tcgetpgrp(self._master), bool(attrs[3] & termios.ICANON))
        except OSError:  # termios.error is an OSError: the child has gone
            return b""
        if reader == self._sent_for or _queued(self._master):
            return b""
        self._sent_for = reader
        eof = attrs[6][termios.VEOF]
        return eof if isinstance(eof, bytes) else bytes([eof])


def _queued(master: int) -> int:
    """Bytes written to the child that it has not read yet."""
    try:
        slave = fcntl.ioctl(master, TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return 0
    try:
        return struct.unpack("i", fcntl.ioctl(slave, termios.TIOCINQ, b"\0\0\0\0"))[0]
    except OSError:
        return 0
    finally:
        with contextlib.suppress(OSError):
            os.close(slave)
