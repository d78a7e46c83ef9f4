"""The crowdcode Neovim plugin in the real TUI (Neovim in a tmux pane), plugin on vs off, one run:

    .venv/bin/python benchmarks/nvim_tui.py [--keys 2000] [--runs 3] [--idle 10]

- key to screen: each key is sent to the pane (tmux control mode: no process per key) and the next
  is sent once tmux's screen shows its effect (the cursor moved), as a person sees it; medians of
  the per-key latency and of the whole run (goal: <= 1.1x);
- idle: CPU used by Neovim and by the recorder while nobody types for ``--idle`` seconds, in
  percent of one core (goal for the recorder: <= 0.1%);
- quit: from ``:qa!`` to Neovim gone, the shell back (goal: <= 1.2x); and to every process gone,
  the recorder included (it is detached and closes the session after Neovim has gone).
Runs alternate off/on so that machine noise hits both.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from nvim_typing import PLUGIN, cpu_seconds, crowdcode, nvim_binary  # the script's own folder

LINE = 60  # characters typed per line before <CR>, so that nothing wraps


class Tmux:
    """A private tmux server running Neovim, driven through one control-mode client."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.base = ["tmux", "-L", f"cc-bench-{uuid.uuid4().hex[:10]}", "-f", "/dev/null"]
        flags = [a for k, v in env.items() for a in ("-e", f"{k}={v}")]
        subprocess.run(
            [*self.base, "new-session", "-d", "-x", "100", "-y", "40", "-c", str(cwd), *flags, *argv], check=True
        )
        self.control = subprocess.Popen(
            [*self.base, "-C", "attach"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        assert self.control.stdin
        self.control.stdin.write("display -p ready\n")
        while "ready" not in self._block():  # skip the block answering the attach itself
            pass

    def ask(self, command: str) -> list[str]:
        """Run one tmux command through the control client; its output lines."""
        assert self.control.stdin
        self.control.stdin.write(command + "\n")
        return self._block()

    def _block(self) -> list[str]:
        """The output block of this client's next command (notifications, and blocks of commands
        tmux runs on its own, flag 0, are skipped)."""
        assert self.control.stdout
        lines: list[str] = []
        inside = False
        for line in self.control.stdout:
            if line.startswith("%begin"):
                inside, lines = line.split()[-1] == "1", []
            elif line.startswith(("%end", "%error")) and inside:
                return lines
            elif inside:
                lines.append(line.rstrip("\n"))
        raise RuntimeError("tmux control client ended")

    def cursor(self) -> tuple[int, int]:
        x, y = self.ask("display -p '#{cursor_x} #{cursor_y}'")[-1].split()
        return int(x), int(y)

    def screen(self) -> str:
        return "\n".join(self.ask("capture-pane -p"))

    def wait(self, predicate, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise SystemExit("timed out; screen:\n" + self.screen())
            time.sleep(0.005)

    def close(self) -> None:
        subprocess.run([*self.base, "kill-server"], capture_output=True)
        self.control.wait(timeout=5)


def processes(home: Path) -> dict[int, str]:
    marker = f"CROWDCODE_HOME={home}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            argv = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if state not in ("Z", "X") and ("nvim" in argv):
            found[int(entry.name)] = argv
    return found


def settled(*pids: int | None) -> None:
    """Wait until start-up is over (the recorder's first scan of the workspace): no CPU used by
    these processes for a second."""
    last = None
    while True:
        now = [cpu_seconds(pid) for pid in pids if pid]
        if now == last:
            return
        last = now
        time.sleep(1.0)


@dataclass
class Run:
    per_key_ms: float
    typing_s: float
    nvim_idle_pct: float
    recorder_idle_pct: float
    quit_s: float  # until Neovim is gone: the shell is back
    gone_s: float  # until the recorder too has finished the session and exited


def run_once(plugin: bool, count: int, idle: float, tmp: Path) -> Run:
    home = Path(tempfile.mkdtemp(dir=tmp))
    ws = Path(tempfile.mkdtemp(dir=tmp))
    env = {"CROWDCODE_HOME": str(home), "PYTHONPATH": os.environ.get("PYTHONPATH", ""), "XDG_STATE_HOME": str(tmp)}
    os.environ["CROWDCODE_HOME"] = str(home)
    subprocess.run([crowdcode(), "config", "set", "consent.status", "declined"], check=True, capture_output=True)
    argv = [nvim_binary(), "-u", "NONE", "-i", "NONE", "-n"]
    if plugin:
        setup = f"lua require('crowdcode').setup({{cmd = {{{json.dumps(crowdcode())}, 'nvim'}}}})"
        argv += ["--cmd", f"set rtp^={PLUGIN}", "-c", setup]
    tmux = Tmux([*argv, "typing.txt"], ws, env)
    try:
        tmux.wait(lambda: "typing.txt" in tmux.screen())
        if plugin:
            tmux.wait(lambda: any(cmd.endswith("crowdcode nvim") for cmd in processes(home).values()))
        pids = processes(home)
        nvim = next(p for p, cmd in pids.items() if " --embed" in cmd)
        recorder = next((p for p, cmd in pids.items() if cmd.endswith("crowdcode nvim")), None)
        settled(nvim, recorder)
        before = cpu_seconds(nvim), cpu_seconds(recorder) if recorder else 0.0
        time.sleep(idle)
        nvim_idle = (cpu_seconds(nvim) - before[0]) / idle * 100
        recorder_idle = ((cpu_seconds(recorder) - before[1]) / idle * 100) if recorder else 0.0

        tmux.ask("send-keys i")
        tmux.wait(lambda: "-- INSERT --" in tmux.screen())
        latencies = []
        started = time.perf_counter()
        for n in range(count):
            x, y = tmux.cursor()
            t0 = time.perf_counter()
            if (n + 1) % LINE == 0:
                tmux.ask("send-keys Enter")
                tmux.wait(lambda y=y: tmux.cursor()[1] != y or tmux.cursor()[0] == 0)
            else:
                tmux.ask(f"send-keys -l {chr(ord('a') + n % 26)}")
                tmux.wait(lambda x=x: tmux.cursor()[0] != x)
            latencies.append(time.perf_counter() - t0)
        typing = time.perf_counter() - started
        tmux.ask("send-keys Escape")
        tmux.wait(lambda: "-- INSERT --" not in tmux.screen())

        t0 = time.perf_counter()
        tmux.ask("send-keys -l :qa!")
        tmux.ask("send-keys Enter")
        quit_s = None
        while left := processes(home):
            if quit_s is None and all(cmd.endswith("crowdcode nvim") for cmd in left.values()):
                quit_s = time.perf_counter() - t0
            if time.perf_counter() - t0 > 10:
                raise SystemExit(f"still running 10 s after :qa!: {left}")
            time.sleep(0.002)
        gone_s = time.perf_counter() - t0
        return Run(statistics.median(latencies) * 1000, typing, nvim_idle, recorder_idle, quit_s or gone_s, gone_s)
    finally:
        tmux.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idling measured per run")
    args = parser.parse_args()
    runs: dict[bool, list[Run]] = {False: [], True: []}
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        for _ in range(args.runs):
            for plugin in (False, True):
                runs[plugin].append(run_once(plugin, args.keys, args.idle, Path(tmp)))

    def med(plugin: bool, field: str) -> float:
        return statistics.median(getattr(r, field) for r in runs[plugin])

    print(f"{args.keys} keys, {args.runs} runs per case, {args.idle:.0f} s idle, nvim {nvim_binary()}")
    for label, field, unit in (
        ("key to screen (median per key)", "per_key_ms", "ms"),
        ("typing all keys", "typing_s", "s"),
        ("quit (:qa! to Neovim gone)", "quit_s", "s"),
        ("quit (:qa! to all gone)", "gone_s", "s"),
    ):
        off, on = med(False, field), med(True, field)
        print(f"{label:<32} off {off:8.3f} {unit:<2}  on {on:8.3f} {unit:<2}  ratio {on / off:5.2f}x")
    print(
        f"{'idle CPU, % of one core':<32} nvim off {med(False, 'nvim_idle_pct'):.3f}%  "
        f"nvim on {med(True, 'nvim_idle_pct'):.3f}%  recorder {med(True, 'recorder_idle_pct'):.3f}%"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
