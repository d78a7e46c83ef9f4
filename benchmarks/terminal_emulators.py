"""Terminal emulators for the screen observations, side by side (docs/benchmarks.md).

    .venv/bin/python benchmarks/terminal_emulators.py [--mb 4]

Feeds the same byte streams to pyavt (asciinema's Rust avt) and pyte, each through the interface
the shell adapter needs (feed bytes, read rows and cursor), and reports feed rate, the cost of one
screen read, and whether the alternate screen works (vim's screen over the shell's, then the
shell's back).
"""

from __future__ import annotations

import argparse
import statistics
import time

import pyte
from crowdcode_shell.screen import AvtScreen


class PyteScreen:
    def __init__(self, cols: int, rows: int) -> None:
        self._screen = pyte.Screen(cols, rows)
        self._stream = pyte.ByteStream(self._screen)

    def feed(self, data: bytes) -> None:
        self._stream.feed(data)

    def lines(self) -> list[str]:
        return [line.rstrip() for line in self._screen.display]


class AvtLines:
    def __init__(self, cols: int, rows: int) -> None:
        self._screen = AvtScreen(cols, rows)

    def feed(self, data: bytes) -> None:
        self._screen.feed(data)

    def lines(self) -> list[str]:
        return self._screen.state().lines


def streams(mb: int) -> dict[str, bytes]:
    text = b"".join(b"%06d \x1b[32mok\x1b[0m the quick brown fox jumps over the lazy dog\r\n" % i for i in range(20000))
    frame = b"".join(b"\x1b[%d;1H\x1b[2K\x1b[7m%3d\x1b[0m %s" % (r, r, b"x" * 70) for r in range(1, 25))
    fullscreen = b"\x1b[?1049h" + frame * 400 + b"\x1b[?1049l"
    wide = ("中文字符 ✓ émoji 😀 " * 5 + "\r\n").encode() * 3000
    reps = max(1, mb * 1024 * 1024 // len(text))
    return {"scrolling text": text * reps, "full-screen redraws": fullscreen * max(1, reps * 2), "wide/unicode": wide}


def alternate_screen_ok(factory: type) -> bool:
    screen = factory(80, 24)
    screen.feed(b"$ echo shell\r\nshell\r\n$ vim\r\n\x1b[?1049h\x1b[H\x1b[2Jvim screen\x1b[?1049l")
    lines = screen.lines()
    return lines[0] == "$ echo shell" and "vim screen" not in "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    candidates = {"pyavt": AvtLines, "pyte": PyteScreen}
    rates: dict[tuple[str, str], float] = {}
    for stream_name, data in streams(args.mb).items():
        for name, factory in candidates.items():
            times = []
            for _ in range(args.runs):
                screen = factory(80, 24)
                t0 = time.perf_counter()
                for start in range(0, len(data), 65536):
                    screen.feed(data[start : start + 65536])
                times.append(time.perf_counter() - t0)
            rates[(stream_name, name)] = len(data) / 1e6 / statistics.median(times)
    print(f"{'stream':22}{'pyavt MB/s':>12}{'pyte MB/s':>12}{'ratio':>8}")
    for stream_name in streams(1):
        a, p = rates[(stream_name, "pyavt")], rates[(stream_name, "pyte")]
        print(f"{stream_name:22}{a:12.1f}{p:12.2f}{a / p:7.0f}x")
    for name, factory in candidates.items():
        screen = factory(240, 80)
        screen.feed(streams(1)["scrolling text"][:200000])
        t0 = time.perf_counter()
        for _ in range(100):
            screen.lines()
        read_ms = (time.perf_counter() - t0) * 10
        print(f"{name}: one 240x80 screen read {read_ms:.2f} ms; alternate screen: {alternate_screen_ok(factory)}")


if __name__ == "__main__":
    main()
