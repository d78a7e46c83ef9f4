"""The least a terminal pass-through written in Python can do, as a floor to compare with.

    python -S benchmarks/python_passthrough.py COMMAND [ARG...]

Runs COMMAND on a new pseudo-terminal of the same size and copies its output to standard output
and standard input to it, with the one speed-up `crowdcode shell` also makes (after a full read,
read again before the next ``select``), and nothing else: no recording, no signals forwarded, no
resize. `shell_pty_bench.py --python-floor` runs it beside `script(1)` and crowdcode, to separate
what CPython itself costs a pass-through from what crowdcode adds (docs/benchmarks.md).
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import sys
import termios
import tty

FULL_READ = 1024


def main(argv: list[str]) -> int:
    size = _window_size(0)
    pid, master = pty.fork()
    if pid == 0:
        os.execvp(argv[0], argv)
    if size is not None:
        fcntl.ioctl(master, termios.TIOCSWINSZ, size)
    os.set_blocking(master, False)
    saved = termios.tcgetattr(0) if os.isatty(0) else None
    if saved is not None:
        tty.setraw(0)
    try:
        _pump(master)
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSAFLUSH, saved)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _window_size(fd: int) -> bytes | None:
    try:
        return fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8)
    except OSError:
        return None


def _pump(master: int) -> None:
    read, write = os.read, os.write
    inputs = [master, 0]
    while True:
        readable = select.select(inputs, [], [])[0]
        if master in readable:
            while True:
                try:
                    data = read(master, 65536)
                except BlockingIOError:
                    break
                except OSError:  # EIO: the command and everything on its terminal have gone
                    return
                if not data:
                    return
                write(1, data)
                if len(data) < FULL_READ:
                    break
        if 0 in readable:
            data = read(0, 65536)
            if data:
                write(master, data)
            else:
                inputs.remove(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
