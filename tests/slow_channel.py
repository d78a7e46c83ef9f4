"""Run a program with its standard input held back: ``slow_channel.py DELAY_MS PROGRAM ARGS…``.

Every chunk read from stdin reaches the program DELAY_MS after it arrived, in order; its stdout
and stderr are its own. Between Neovim and its recorder this is a busy machine made repeatable:
the editor's events (edits, the save hint) reach the recorder long after the write they describe
reached the disk, while the recorder's own messages to the editor travel at once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque


def main() -> int:
    delay = int(sys.argv[1]) / 1000
    child = subprocess.Popen(sys.argv[2:], stdin=subprocess.PIPE)
    assert child.stdin is not None
    sink = child.stdin
    held: deque[tuple[float, bytes]] = deque()
    ready = threading.Condition()

    def forward() -> None:
        while True:
            with ready:
                while not held:
                    ready.wait()
                due, chunk = held[0]
            time.sleep(max(0.0, due - time.monotonic()))
            with ready:
                held.popleft()
            if not chunk:  # end of input
                sink.close()
                return
            try:
                sink.write(chunk)
                sink.flush()
            except BrokenPipeError:
                return

    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(signum, lambda s, _f: child.send_signal(s))

    def hold() -> None:
        while True:
            chunk = os.read(0, 65536)
            with ready:
                held.append((time.monotonic() + delay, chunk))
                ready.notify()
            if not chunk:
                return

    threading.Thread(target=forward, daemon=True).start()
    # The program may end before its input does (an LSP server at ``exit``; its client waits for
    # it to end before it closes the pipe): this process ends with it.
    threading.Thread(target=hold, daemon=True).start()
    return child.wait()


if __name__ == "__main__":
    sys.exit(main())
