"""`crowdcode shell` against the alternatives, side by side in one run (docs/benchmarks.md).

    .venv/bin/python benchmarks/shell_throughput.py [--mb 100] [--runs 3] [--keys 500]

Every program runs in a fresh pseudo-terminal that this script reads as fast as it can — the
user's terminal. Measured:

* throughput of ``cat`` of a large file: directly in the PTY, through ``crowdcode shell``,
  ``script(1)`` and ``asciinema rec`` (time until the last byte reached the terminal, and until
  the wrapper exited);
* keystroke echo latency: one byte typed, time until its echo arrives (``cat`` echoing through the
  line discipline), p50 and p99, and what each wrapper adds to the direct PTY;
* the child's own throughput during a flood with screen observations on vs off (``shell.screen``);
* CPU used by the recorder while an idle full-screen program (vim) is open.
"""

from __future__ import annotations

import argparse
import os
import pty
import random
import select
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson

VENV_BIN = Path(sys.executable).parent
CROWDCODE = str(VENV_BIN / "crowdcode")
ASCIINEMA = str(VENV_BIN / "asciinema")


def spawn(argv: list[str], env: dict[str, str]) -> tuple[int, int]:
    pid, master = pty.fork()
    if pid == 0:
        os.execvpe(argv[0], argv, env)
    return pid, master


def run_flood(argv: list[str], env: dict[str, str], expect_bytes: int) -> tuple[float, float, float]:
    """Seconds from start until the first byte, from the first to the last byte of the file, and
    from start until the wrapper exited. The first is the wrapper's start-up; the second is the
    throughput that matters for a flood."""
    start = time.perf_counter()
    pid, master = spawn(argv, env)
    got = 0
    first = output_done = None
    buffer = bytearray(1 << 16)  # a terminal reads into one buffer; a fresh one per read costs page faults
    while True:
        try:
            n = os.readv(master, (buffer,))
        except OSError:
            break
        if not n:
            break
        if first is None:
            first = time.perf_counter()
        got += n
        if output_done is None and got >= expect_bytes:
            output_done = time.perf_counter()
    os.waitpid(pid, 0)
    end = time.perf_counter()
    os.close(master)
    first = first or end
    return first - start, (output_done or end) - first, end - start


def echo_latencies(argv: list[str], env: dict[str, str], keys: int) -> list[float]:
    """Latency (s) of each typed key's echo."""
    pid, master = spawn(argv, env)
    time.sleep(1.5)  # let the wrapper and its recorder start
    _drain(master, 0.2)
    latencies = []
    for i in range(keys):
        key = b"abcdefghij"[i % 10 : i % 10 + 1]
        t0 = time.perf_counter()
        os.write(master, key)
        buf = b""
        while key not in buf:
            select.select([master], [], [], 2)
            buf += os.read(master, 4096)
        latencies.append(time.perf_counter() - t0)
        if i % 50 == 49:
            os.write(master, b"\r")
            _drain(master, 0.02)
    os.write(master, b"\x04")
    _drain(master, 0.5)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    os.close(master)
    return latencies


def _drain(fd: int, wait: float) -> None:
    while select.select([fd], [], [], wait)[0]:
        try:
            if not os.read(fd, 1 << 16):
                return
        except OSError:
            return


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def recorder_cpu_idle_vim(env: dict[str, str], home: Path, seconds: float) -> float:
    """CPU seconds per second used by the recorder with vim open and idle: measured once the
    recorder has registered (slow on a loaded machine) and 3 s have passed without output (the
    screen sampler keeps sampling for 2 s after the last frame)."""
    pid, master = spawn([CROWDCODE, "shell", "--", "vim", "-u", "NONE", "-N"], env)
    live = home / "run" / "live"
    deadline = time.monotonic() + 60
    while not list(live.glob("*.json")) and time.monotonic() < deadline:
        _drain(master, 0.1)
    _drain(master, 3.0)
    recorder = orjson.loads(next(live.glob("*.json")).read_bytes())["pid"]
    before = _cpu(recorder)
    t0 = time.perf_counter()
    end = t0 + seconds
    while time.perf_counter() < end:
        _drain(master, 0.1)
    used = (_cpu(recorder) - before) / (time.perf_counter() - t0)
    os.write(master, b"\x1b:qa!\r")
    _drain(master, 1.0)
    os.waitpid(pid, 0)
    os.close(master)
    return used


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def flood_rounds(
    contenders: dict[str, tuple[list[str], dict[str, str]]], expected: int, runs: int, out: Path, homes: list[Path]
) -> dict[str, list[tuple[float, float, float]]]:
    """``run_flood`` of every contender, ``runs`` times.

    Rounds in a shuffled order, so that the load of a shared machine falls on every contender
    alike. Between runs, what the last one wrote is synced and deleted outside the timing: each
    run pays for writing its own recording, none for another's write-back."""
    samples: dict[str, list[tuple[float, float, float]]] = {name: [] for name in contenders}
    order = random.Random(0)
    for _ in range(runs):
        for name in order.sample(list(contenders), len(contenders)):
            argv, run_env = contenders[name]
            samples[name].append(run_flood(argv, run_env, expected))
            os.sync()
            out.unlink(missing_ok=True)
            for home in homes:
                shutil.rmtree(home / "data", ignore_errors=True)
    return samples


def paired_ratio(runs: list[tuple[float, float, float]], base: list[tuple[float, float, float]]) -> float:
    """Median over rounds of the base's flood time over this contender's: throughput relative to
    the base in the same round."""
    return statistics.median(b[1] / r[1] for r, b in zip(runs, base, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=100, help="size of the file to cat (MB)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--long-mb", type=int, default=500, help="a flood longer than the recorder defers (MB; 0: skip)"
    )
    parser.add_argument("--keys", type=int, default=500)
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cc-bench-"))
    big = work / "big.txt"
    line = b"".join(b"%05d the quick brown fox jumps over the lazy dog 0123456789\n" % i for i in range(1000))
    with open(big, "wb") as f:
        for _ in range(args.mb * 1024 * 1024 // len(line)):
            f.write(line)
    size = big.stat().st_size
    expected = size + size // 61  # the PTY turns each \n into \r\n
    home = work / "home"
    env = {**os.environ, "CROWDCODE_HOME": str(home), "TERM": "xterm-256color"}
    env.pop("CROWDCODE_SHELL", None)
    no_screen_home = work / "home-noscreen"
    no_screen_home.mkdir()
    (no_screen_home / "config.toml").write_text("[shell]\nscreen = false\n")
    env_no_screen = {**env, "CROWDCODE_HOME": str(no_screen_home)}

    cat = ["cat", str(big)]
    out = work / "out"  # what script(1) and asciinema write: a fresh file per run, as for crowdcode
    contenders: dict[str, tuple[list[str], dict[str, str]]] = {
        "direct PTY": (cat, env),
        "crowdcode shell": ([CROWDCODE, "shell", "--", *cat], env),
        "crowdcode shell, screen off": ([CROWDCODE, "shell", "--", *cat], env_no_screen),
        "script(1)": (["script", "-q", "-c", f"cat {big}", str(out)], env),
    }
    if Path(ASCIINEMA).exists():
        contenders["asciinema rec"] = ([ASCIINEMA, "rec", "-q", "-c", f"cat {big}", str(out)], env)
    print(f"cat of {size / 1e6:.0f} MB, median of {args.runs} runs; {os.cpu_count()} cores")
    samples = flood_rounds(contenders, expected, args.runs, out, [home, no_screen_home])
    results = {name: tuple(statistics.median(r[i] for r in runs) for i in range(3)) for name, runs in samples.items()}
    base = results["script(1)"][1]
    print(f"{'':28}{'start s':>9}{'flood s':>9}{'MB/s':>7}{'exit s':>9}{'vs script(1)':>14}{'per round':>11}")
    for name, (start_s, flood_s, exit_s) in results.items():
        print(
            f"{name:28}{start_s:9.2f}{flood_s:9.2f}{size / 1e6 / flood_s:7.0f}{exit_s:9.2f}{base / flood_s:13.2f}x"
            f"{paired_ratio(samples[name], samples['script(1)']):10.2f}x"
        )
    print("(vs script(1): ratio of the medians; per round: median of each round's ratio, which cancels the")
    print(" machine's slower and faster spells, since a round runs every contender back to back)")
    off, on = results["crowdcode shell, screen off"][1], results["crowdcode shell"][1]
    print(f"\nthroughput with screen observations on / off: {off / on:.2f}x")

    if args.long_mb:  # longer than the recorder defers a flood's handling (spool.MAX_DEFER_S)
        long = work / "long.txt"
        with open(long, "wb") as f:
            for _ in range(max(1, args.long_mb // args.mb)):
                f.write(big.read_bytes())
        long_size = long.stat().st_size
        long_contenders = {
            "crowdcode shell": ([CROWDCODE, "shell", "--", "cat", str(long)], env),
            "script(1)": (["script", "-q", "-c", f"cat {long}", str(out)], env),
        }
        long_samples = flood_rounds(long_contenders, long_size + long_size // 61, args.runs, out, [home])
        flood = {name: statistics.median(r[1] for r in runs) for name, runs in long_samples.items()}
        paired = paired_ratio(long_samples["crowdcode shell"], long_samples["script(1)"])
        print(
            f"\nsustained flood, cat of {long_size / 1e6:.0f} MB ({flood['script(1)']:.0f} s through script(1)):"
            f" crowdcode shell {flood['script(1)'] / flood['crowdcode shell']:.2f}x script(1), per round {paired:.2f}x"
        )
        long.unlink()

    print(f"\nkeystroke echo latency, {args.keys} keys per contender, interleaved in rounds of 100 (ms)")
    typists = {
        "direct PTY": ["cat"],
        "crowdcode shell": [CROWDCODE, "shell", "--", "cat"],
        "script(1)": ["script", "-q", "-c", "cat", str(work / "typescript2")],
    }
    rows: dict[str, list[float]] = {name: [] for name in typists}
    for _ in range(max(1, args.keys // 100)):
        for name, argv in typists.items():
            rows[name] += echo_latencies(argv, env, min(100, args.keys))
    direct = rows["direct PTY"]
    print(f"{'':18}{'p50':>8}{'p99':>8}{'added p50':>11}{'added p99':>11}")
    for name, values in rows.items():
        p50, p99 = pct(values, 50) * 1e3, pct(values, 99) * 1e3
        a50, a99 = p50 - pct(direct, 50) * 1e3, p99 - pct(direct, 99) * 1e3
        print(f"{name:18}{p50:8.3f}{p99:8.3f}{a50:11.3f}{a99:11.3f}")

    if shutil.which("vim"):
        cpu = recorder_cpu_idle_vim(env, home, args.idle_seconds)
        print(f"\nrecorder CPU with vim open and idle: {cpu * 100:.2f}% of one core")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
