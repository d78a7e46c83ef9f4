"""`crowdcode dataset build` throughput: MB read per second per core over 1, 2 and 4 workers,
local and Ray, side by side, and the corpus size from which Ray pays.

    .venv/bin/python benchmarks/dataset.py [--sessions 8] [--events 20000] [--runs 3] [--ray]

Records the serializer benchmark's synthetic corpus (benchmarks/serialize.py) with a raw terminal
stream per session, then builds a dataset from it (verify, serialize, split, JSONL, Parquet,
report; no plots) into a fresh directory per run. "MB" counts every byte read: journal segments
and terminal casts. "MB/cpu-s" divides by the CPU time the workers spent, the per-core speed that
other load on the machine does not distort. Ray runs on a local Ray started before the timed runs,
as a running cluster would be; its start-up is printed apart. Ray pays from the corpus size where
its fixed cost per build is made up by its higher rate: printed when it has one.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path


def record(sessions: int, events: int, home: Path) -> None:
    spec = importlib.util.spec_from_file_location("serialize_bench", Path(__file__).with_name("serialize.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.record_corpus(sessions, events)
    for session in (home / "data" / "sessions").iterdir():  # a raw terminal stream, as crowdcode shell writes
        casts = session / "terminals"
        casts.mkdir(exist_ok=True)
        frames = "".join(f'[{i / 10:.1f}, "o", "$ pytest -q\\r\\n{"." * 60}\\r\\n"]\n' for i in range(events // 20))
        (casts / "t1.cast").write_text('{"version": 2, "width": 80, "height": 24}\n' + frames)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--events", type=int, default=20_000, help="events per session")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", default="1,2,4", help="worker counts to compare (default: 1,2,4)")
    parser.add_argument("--ray", action="store_true", help="also build on a local Ray (started first)")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="crowdcode-bench-"))
    os.environ["CROWDCODE_HOME"] = str(home)
    try:
        return run(args, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def run(args: argparse.Namespace, home: Path) -> int:
    from crowdcode_sdk.dataset.build import BuildOptions, build
    from crowdcode_sdk.serialize.dataset import DatasetConfig

    began = time.perf_counter()
    record(args.sessions, args.events, home)
    print(f"corpus recorded in {time.perf_counter() - began:.1f}s")
    counts = [int(w) for w in args.workers.split(",")]
    variants = [("local", w) for w in counts] + ([("ray", w) for w in counts] if args.ray else [])
    config = DatasetConfig(next_edits=True)
    if args.ray:
        import ray

        began = time.perf_counter()
        ray.init(num_cpus=max(counts), include_dashboard=False, log_to_driver=False)
        print(f"local Ray started in {time.perf_counter() - began:.1f}s (not included below)")
    load = os.getloadavg()[0]
    medians: dict[tuple[str, int], float] = {}
    cpu: dict[tuple[str, int], float] = {}
    megabytes = 0.0
    for engine, workers in variants:
        times, cpus = [], []
        for number in range(args.runs):
            out = home / f"out-{engine}-{workers}-{number}"
            start = time.perf_counter()
            built = build(
                [str(home / "data")],
                out,
                config,
                BuildOptions(engine=engine, workers=workers, progress=False, plots=False),
            )
            times.append(time.perf_counter() - start)
            cpus.append(sum(r.cpu_seconds for r in built.results))
            megabytes = built.report["summary"]["bytes_read"] / 1e6
            shutil.rmtree(out)
        medians[(engine, workers)] = statistics.median(times)
        cpu[(engine, workers)] = statistics.median(cpus)
    print(f"\n{megabytes:.1f} MB read per build (journals and casts); {args.runs} runs each, medians")
    print(f"load average (1 min) before / after: {load:.1f} / {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    base = medians[("local", counts[0])]
    print(
        f"{'engine':<8}{'workers':>8}{'median s':>10}{'MB/s':>8}{'MB/s/worker':>13}{'MB/cpu-s':>10}{'vs local 1':>12}"
    )
    for (engine, workers), seconds in medians.items():
        rate = megabytes / seconds
        print(
            f"{engine:<8}{workers:>8}{seconds:>10.2f}{rate:>8.1f}{rate / workers:>13.1f}"
            f"{megabytes / cpu[(engine, workers)]:>10.1f}{base / seconds:>11.2f}x"
        )
    if args.ray:
        best_local = min(v for (e, _), v in medians.items() if e == "local")
        best_ray = min(v for (e, _), v in medians.items() if e == "ray")
        print(f"\nbest ray / best local time: {best_ray / best_local:.2f}x")
        # time = overhead + MB / rate. Ray's overhead over local is the difference between the
        # two engines building the same one session; its rate is what is left of its full build.
        one = _one_session_seconds(home, config, build, BuildOptions)
        extra = max(one["ray"] - one["local"], 0.0)
        local_rate = megabytes / best_local
        ray_rate = megabytes / max(best_ray - extra, 1e-9)
        if ray_rate > local_rate:
            pays = extra / (1 / local_rate - 1 / ray_rate)
            print(f"Ray's fixed cost per build {extra:.1f}s more than local; Ray pays from about {pays:.0f} MB")
        else:
            print("Ray is not faster per MB than local processes on this machine: it does not pay at any size here")
    return 0


def _one_session_seconds(home: Path, config, build, options) -> dict[str, float]:  # type: ignore[no-untyped-def]
    one = home / "one"
    (one / "sessions").mkdir(parents=True, exist_ok=True)
    first = sorted((home / "data" / "sessions").iterdir())[0]
    if not (one / "sessions" / first.name).exists():
        shutil.copytree(first, one / "sessions" / first.name)
    seconds = {}
    for engine in ("local", "ray"):
        start = time.perf_counter()
        build(
            [str(one)], home / f"one-{engine}", config, options(engine=engine, workers=1, progress=False, plots=False)
        )
        seconds[engine] = time.perf_counter() - start
        shutil.rmtree(home / f"one-{engine}")
    return seconds


if __name__ == "__main__":
    sys.exit(main())
