"""Serialization throughput: MB of recording per second per core, and scaling from 1 to N cores.

    .venv/bin/python benchmarks/serialize.py [--sessions 8] [--events 40000] [--runs 3] [--ray]

Records a synthetic corpus through real Sessions in a temporary CROWDCODE_HOME — typing
(one-character edits, each followed by a viewport observation, as crowd-code logs them), cursor
jumps, occasional deletions of whole lines, shell commands with rendered screens — then
serializes it with ``--engine local`` on 1..N worker processes (and, with ``--ray``, on a local
Ray), side by side, and prints medians and ratios.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path


def record_corpus(sessions: int, events: int, seed: int = 7) -> None:
    from crowdcode_sdk import (
        Document,
        Edit,
        FileOpen,
        Position,
        Selection,
        Session,
        TerminalCommand,
        TerminalViewport,
        Viewport,
    )

    rng = random.Random(seed)
    words = ["value", "result", "index", "self", "return", "for", "in", "range", "(", ")", ":", "=", "+", "1"]
    for number in range(sessions):
        with Session(adapter="bench", editor="bench", workspace=f"/tmp/ws{number}") as session:
            path = f"src/module_{number}.py"
            text = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(100))
            doc = Document(text)
            session.record(FileOpen(file=path, text=text))
            recorded = 0
            while recorded < events:
                line = rng.randrange(doc.line_count)
                start = doc.offset_at(line, 4)
                pos = doc.position_at(start)
                session.record(Selection(file=path, selection_start=pos, selection_end=pos, selected_text=""))
                for ch in " " + " ".join(rng.choice(words) for _ in range(4)) + "\n":
                    change = doc.replace(start, start, ch)
                    start += 1
                    session.record(Edit(file=path, diff=change))
                    cursor = doc.position_at(start)
                    first = max(cursor.line - 20, 0)
                    last = min(first + 40, doc.line_count)
                    content = "".join(doc.line(i, keep_end=True) for i in range(first, last))
                    session.observe(
                        viewport=Viewport(
                            file=path,
                            start_line=first + 1,
                            end_line=max(last, first + 1),
                            content=content,
                            cursor_position=Position(line=cursor.line, character=cursor.character),
                        )
                    )
                    recorded += 2
                if rng.random() < 0.1:
                    line = rng.randrange(doc.line_count - 1)
                    a, b = doc.offset_at(line, 0), doc.offset_at(line + 1, 0)
                    session.record(Edit(file=path, diff=doc.replace(a, b, "")))
                if rng.random() < 0.05:
                    session.record(TerminalCommand(terminal_id="t1", terminal_name="bash", command="pytest -q"))
                    rows = ["$ pytest -q", "." * 40, "40 passed in 0.12s", "$ "] + [""] * 20
                    session.observe(
                        active_terminal=TerminalViewport(
                            id="t1", name="bash", viewport=rows, cursor=Position(line=3, character=2), cols=80, rows=24
                        )
                    )
                    recorded += 2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--events", type=int, default=40_000, help="events per session")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--ray", action="store_true", help="also run --engine ray on a local Ray (started first)")
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="crowdcode-bench-")
    os.environ["CROWDCODE_HOME"] = home
    try:
        return run(args, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def run(args: argparse.Namespace, home: str) -> int:

    from crowdcode_sdk.serialize.cli import write_dataset
    from crowdcode_sdk.serialize.dataset import DatasetConfig
    from crowdcode_sdk.serialize.sources import resolve

    began = time.perf_counter()
    record_corpus(args.sessions, args.events)
    sources = resolve([str(Path(home) / "data")])
    total = sum(s.size() for s in sources) / 1e6
    print(f"corpus: {len(sources)} sessions, {total:.1f} MB of journal, recorded in {time.perf_counter() - began:.1f}s")
    cores = os.cpu_count() or 1
    variants = [("local", w) for w in range(1, cores + 1)] + ([("ray", cores)] if args.ray else [])
    config = DatasetConfig()
    medians = {}
    cpu = {}
    if args.ray:  # a running cluster, as --ray-address would find: its start-up is not timed
        import ray

        began = time.perf_counter()
        ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False)
        print(f"local Ray started in {time.perf_counter() - began:.1f}s (not included below)")
    load = os.getloadavg()[0]
    for engine, workers in variants:
        times, cpus = [], []
        for run in range(args.runs):
            out = Path(home) / f"out-{engine}-{workers}-{run}"
            out.mkdir()
            start = time.perf_counter()
            metadata = write_dataset(sources, config, out, engine=engine, workers=workers)
            times.append(time.perf_counter() - start)
            cpus.append(metadata["totals"]["worker_cpu_seconds"])
        medians[(engine, workers)] = statistics.median(times)
        cpu[(engine, workers)] = statistics.median(cpus)
    base = medians[("local", 1)]
    print(f"\nload average (1 min) before / after: {load:.1f} / {os.getloadavg()[0]:.1f} on {cores} cores")
    print("MB/cpu-s: MB per CPU-second spent in the workers (per-core speed, unaffected by other load)")
    header = f"{'engine':<8}{'cores':>6}{'median s':>10}{'MB/s':>8}{'MB/s/core':>11}{'MB/cpu-s':>10}{'speedup':>9}"
    print(f"{header}{'efficiency':>12}")
    for (engine, workers), seconds in medians.items():
        rate = total / seconds
        speedup = base / seconds
        print(
            f"{engine:<8}{workers:>6}{seconds:>10.2f}{rate:>8.1f}{rate / workers:>11.1f}"
            f"{total / cpu[(engine, workers)]:>10.1f}{speedup:>8.2f}x{speedup / workers:>11.0%}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
