"""A flood of viewport updates: recorded one by one, or offered to the core sampler.

Run: .venv/bin/python benchmarks/sampler.py [--updates N] [--rounds R]

An editor scrolling with a key held, or an adapter that forwards every cursor move, hands the
session N viewport updates (20,000 by default), each a different 40-line view of a 2,000-line
file, as fast as the caller can. Side by side, alternating R rounds (5 by default), medians:

- ``observe``: each update recorded through ``Session.observe`` (what adapters did before the core
  sampler: one observation per changed update, on the caller's thread);
- ``sample``: each update offered through ``Session.sample`` (the core sampler: at most
  ``observe.rate_hz`` observations a second, the last one always).

Prints the caller's time per update, the observations recorded and the journal's bytes, and the
ratios sample / observe.

With ``--idle-against CHECKOUT`` (another checkout of crowdcode, e.g. main's), it also measures the
CPU of ``crowdcode shell``'s recorder with vim open and idle for ``--idle-seconds`` (10 by
default), this checkout and the other alternating R rounds: the core sampler's thread sleeps
without frames, the old screen thread ticked at 10 Hz.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.shell_throughput import recorder_cpu_idle_vim
from crowdcode_sdk import Position, Session, Viewport
from crowdcode_sdk.config import Config, set_value
from crowdcode_sdk.journal import read_lines
from crowdcode_sdk.locations import Locations

ROOT = Path(__file__).resolve().parents[1]
LINES = [f"    value_{n} = compute({n}, other={n * 7})  # line {n}" for n in range(2000)]


def views(count: int) -> list[Viewport]:
    out = []
    for i in range(count):
        first = i % 1960 + 1
        out.append(
            Viewport(
                file="src/big.py",
                start_line=first,
                end_line=first + 39,
                content="\n".join(LINES[first - 1 : first + 39]),
                cursor_position=Position(line=first + 19, character=4),
            )
        )
    return out


def one(kind: str, updates: list[Viewport]) -> tuple[float, int, int]:
    """Seconds per update on the caller's thread, observations recorded, journal bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        locations = Locations(root / "config.toml", root / "data", root / "run")
        session = Session(adapter="bench", editor="bench", locations=locations, config=Config())
        start = time.perf_counter()
        if kind == "observe":
            for view in updates:
                session.observe(viewport=view)
        else:
            for view in updates:
                session.sample(viewport=view)
        took = time.perf_counter() - start
        session.close()
        journal = b"".join(read_lines(session.directory))
        observed = journal.count(b'"type":"observation"')
        return took / len(updates), observed, len(journal)


def recorder_idle_cpu(checkout: Path, seconds: float) -> float:
    """The shell recorder's idle CPU (``shell_throughput.recorder_cpu_idle_vim``) with the code of
    ``checkout``, in a fresh home with consent declined."""
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        set_value(Locations(home / "config.toml", home / "data", home / "run"), "consent.status", "declined")
        env = {
            **os.environ,
            "CROWDCODE_HOME": str(home),
            "PYTHONPATH": f"{checkout}:{checkout / 'adapters'}",
            "TERM": "xterm-256color",
        }
        return recorder_cpu_idle_vim(env, home, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--idle-against", type=Path, help="another checkout to compare idle recorder CPU with")
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    args = parser.parse_args()
    updates = views(args.updates)
    results: dict[str, list[tuple[float, int, int]]] = {"observe": [], "sample": []}
    for _ in range(args.rounds):
        for kind in results:
            results[kind].append(one(kind, updates))
    medians = {
        kind: tuple(statistics.median(run[i] for run in runs) for i in range(3)) for kind, runs in results.items()
    }
    print(f"{args.updates} viewport updates, {args.rounds} rounds, medians")
    print(f"{'':8} {'µs/update':>10} {'observations':>13} {'journal bytes':>14}")
    for kind, (per, observed, size) in medians.items():
        print(f"{kind:8} {per * 1e6:10.1f} {observed:13.0f} {size:14.0f}")
    (o_per, o_obs, o_size), (s_per, s_obs, s_size) = medians["observe"], medians["sample"]
    print(
        f"ratios sample/observe: time per update {s_per / o_per:.3f}x, "
        f"observations {s_obs / o_obs:.4f}x, journal {s_size / o_size:.4f}x"
    )
    if args.idle_against:
        idle: dict[Path, list[float]] = {ROOT: [], args.idle_against.resolve(): []}
        for _ in range(args.rounds):
            for checkout, runs in idle.items():
                runs.append(recorder_idle_cpu(checkout, args.idle_seconds))
        print(f"\nrecorder CPU, crowdcode shell with vim idle {args.idle_seconds:.0f} s, % of one core, median")
        for checkout, runs in idle.items():
            print(
                f"{checkout!s:40} {statistics.median(runs) * 100:6.3f}  ({', '.join(f'{r * 100:.3f}' for r in runs)})"
            )


if __name__ == "__main__":
    main()
