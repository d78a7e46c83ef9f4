"""``crowdcode play SESSION``: replay a recording in the terminal.

Keys: space pauses and resumes, ``+``/``-`` double or halve the speed, ``n`` steps one frame
while paused, ``q`` quits. Idle time longer than ``--max-gap`` seconds is shortened to it.
``--no-wait`` (or output that is not a terminal) prints the frames one after another.
"""

from __future__ import annotations

import argparse
import os
import select
import shutil
import signal
import sys
import termios
import time
import tty
from collections.abc import Iterator

from ..errors import CrowdcodeError
from ..serialize.sources import resolve
from .frames import frames, render

ENTER_SCREEN = "\x1b[?1049h\x1b[?25l"
LEAVE_SCREEN = "\x1b[?25h\x1b[?1049l"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "play",
        help="replay a session in the terminal: editor, terminal screen, recent actions",
        description="Replay a recording in the terminal.\n\n"
        "Keys: space pauses and resumes, + and - double or halve the speed, n steps one\n"
        "frame while paused, q quits. Idle time longer than --max-gap seconds is\n"
        "shortened to it. --no-wait (or output that is not a terminal) prints the\n"
        "frames one after another.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("session", help="session id, prefix, 'latest', session directory or crowd-code 2.0 bundle")
    p.add_argument("--speed", type=float, default=1.0, help="playback speed factor (default: 1)")
    p.add_argument("--max-gap", type=float, default=2.0, help="longest pause between frames in seconds (default: 2)")
    p.add_argument("--no-wait", action="store_true", help="print every frame at once, without terminal control")
    p.add_argument("--frames", type=int, help="stop after this many frames")
    p.add_argument("--size", help="COLSxROWS (default: the terminal's size)")
    p.add_argument("--no-color", action="store_true")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.speed <= 0:
        raise CrowdcodeError("--speed must be positive")
    sources = resolve([args.session])
    if len(sources) != 1:
        raise CrowdcodeError(f"{args.session} holds {len(sources)} sessions; name one")
    events, _ = sources[0].open()
    width, height = _size(args.size)
    timeline = _limited(frames(events), args.frames)
    if args.no_wait or not sys.stdout.isatty():
        color = not args.no_color and sys.stdout.isatty()
        for number, state in enumerate(timeline, 1):
            print(f"--- frame {number}")
            print("\n".join(line.rstrip() for line in render(state, width, height, color=color)))
        return 0
    return Player(args.speed, args.max_gap, width, height, not args.no_color).play(timeline)


def _limited(states: Iterator, limit: int | None) -> Iterator:
    for number, state in enumerate(states, 1):
        yield state
        if limit is not None and number >= limit:
            return


def _size(spec: str | None) -> tuple[int, int]:
    if spec:
        try:
            cols, rows = (int(part) for part in spec.lower().split("x"))
        except ValueError:
            raise CrowdcodeError(f"--size: expected COLSxROWS, got {spec!r}") from None
        return cols, rows
    size = shutil.get_terminal_size((100, 30))
    return size.columns, size.lines


class Player:
    """Draws frames at recorded pace on the alternate screen and reacts to keys."""

    def __init__(self, speed: float, max_gap: float, width: int, height: int, color: bool) -> None:
        self.speed = speed
        self.max_gap_ms = max_gap * 1000
        self.width = width
        self.height = height
        self.color = color
        self.paused = False
        self.step = False
        self.quit = False
        self._shown = None

    def play(self, timeline: Iterator) -> int:
        keys = sys.stdin.fileno() if sys.stdin.isatty() else None
        saved = termios.tcgetattr(keys) if keys is not None else None
        previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        out = sys.stdout
        try:
            if keys is not None:
                tty.setcbreak(keys)
            out.write(ENTER_SCREEN)
            last = None
            for state in timeline:
                if last is not None:
                    self._wait(min(state.now - last, self.max_gap_ms), keys)
                if self.quit:
                    break
                last = state.now
                self._draw(state)
            if not self.quit and last is not None:
                self._draw(self._shown, done=True)
                self._wait(None, keys, until_key=True)
        finally:
            out.write(LEAVE_SCREEN)
            out.flush()
            if keys is not None and saved is not None:
                termios.tcsetattr(keys, termios.TCSADRAIN, saved)
            signal.signal(signal.SIGTERM, previous)
        return 0

    def _status(self, done: bool = False) -> str:
        state = "END (q quits)" if done else ("PAUSED" if self.paused else "playing")
        return f"{state}  speed x{self.speed:g}  [space] pause  [+/-] speed  [n] step  [q] quit"

    def _draw(self, state, done: bool = False) -> None:
        self._shown = state
        lines = render(state, self.width, self.height, status=self._status(done), color=self.color)
        sys.stdout.write("\x1b[H" + "\r\n".join(lines))
        sys.stdout.flush()

    def _wait(self, gap_ms: float | None, keys: int | None, until_key: bool = False) -> None:
        """Wait for the next frame's time (scaled by the speed), handling keys meanwhile."""
        remaining = None if gap_ms is None else gap_ms / 1000
        while not self.quit:
            if until_key and keys is None:
                return
            if not self.paused and not until_key and remaining is not None and remaining <= 0:
                return
            if self.step:
                self.step = False
                return
            timeout = None if (self.paused or until_key or remaining is None) else remaining / self.speed
            began = time.monotonic()
            key = self._key(keys, timeout)
            if not self.paused and remaining is not None:
                remaining -= (time.monotonic() - began) * self.speed
            if key is None:
                continue
            before = (self.paused, self.speed)
            self._handle(key)
            if until_key and key in "q\x1b\x03":
                return
            if (self.paused, self.speed) != before and self._shown is not None:
                self._draw(self._shown, done=until_key)

    def _key(self, keys: int | None, timeout: float | None) -> str | None:
        if keys is None:
            if timeout:
                time.sleep(timeout)
            return None
        ready, _, _ = select.select([keys], [], [], timeout)
        if not ready:
            return None
        return os.read(keys, 1).decode(errors="replace")

    def _handle(self, key: str) -> None:
        if key == " ":
            self.paused = not self.paused
        elif key in "+=":
            self.speed = min(self.speed * 2, 1024)
        elif key in "-_":
            self.speed = max(self.speed / 2, 1 / 64)
        elif key == "n" and self.paused:
            self.step = True
        elif key in "q\x1b\x03":
            self.quit = True
