"""The user's terminal: raw mode that is always restored, and window sizes."""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
import termios
import tty
from collections.abc import Iterator

DEFAULT_SIZE = (80, 24)


@contextlib.contextmanager
def raw_mode(fd: int) -> Iterator[None]:
    """Put the terminal on ``fd`` into raw mode for the block; restore it on every way out.

    Not a terminal (a pipe, a file): nothing to do. Restoring uses TCSAFLUSH like asciinema so that
    late terminal answerbacks to the child's queries are not left as typed input for the next
    program.
    """
    if not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    tty.setraw(fd, termios.TCSADRAIN)
    try:
        yield
    finally:
        with contextlib.suppress(termios.error):
            termios.tcsetattr(fd, termios.TCSAFLUSH, saved)


def get_size(*fds: int) -> tuple[int, int]:
    """(cols, rows) of the first of ``fds`` that is a terminal, else of /dev/tty, else 80x24."""
    for fd in fds:
        size = _size_of(fd)
        if size:
            return size
    with contextlib.suppress(OSError):
        fd = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY)
        try:
            size = _size_of(fd)
        finally:
            os.close(fd)
        if size:
            return size
    return DEFAULT_SIZE


def _size_of(fd: int) -> tuple[int, int] | None:
    try:
        rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
    except OSError:
        return None
    return (cols, rows) if cols and rows else None


def set_size(fd: int, cols: int, rows: int) -> None:
    """Set a terminal's size; on a PTY master the kernel sends SIGWINCH to its foreground group."""
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
