"""Throughput of the one redaction path against its goals and against another checkout.

Run: .venv/bin/python benchmarks/redaction_throughput.py [--against CHECKOUT] [--runs R] [--chars N]

Four measures, each also packed raw (a bundle without redaction) in the same process:
- typed edits, one edit event per keystroke (code with secrets): events/s, goal 50,000;
- a terminal's raw stream (.cast) of coloured test output with paths and "passed" (every line
  passed the detectors' old prefilter, a 16-character token or the word "pass"; none passes the
  gate of detector.py): MB/s, goal 20;
- a .cast of quiet coloured output (no line passes either): MB/s, goal 20;
- a .cast of coloured log lines with an ``auth:`` field and no secret (every line passes the gate
  and is scanned by the detectors): MB/s, goal 20.

Each run is one child process per checkout, alternating (this one, then ``--against``), so that
both see the same machine load; the figures are medians over the runs. ``--against`` is another
checkout's root (e.g. ``git archive <commit> crowdcode_sdk adapters | tar -x -C /tmp/before``):
its ``crowdcode_sdk`` does the redacting, this file's generators make the same data for both.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GOALS = {"edits": 50_000.0, "cast_test_output": 20.0, "cast_quiet": 20.0, "cast_scanned": 20.0}
UNITS = {"edits": "events/s", "cast_test_output": "MB/s", "cast_quiet": "MB/s", "cast_scanned": "MB/s"}


def measure(chars: int) -> dict[str, dict[str, float]]:
    """One run in this process: seconds raw and redacted, and the amount, per measure."""
    sys.path.insert(0, str(HERE))
    from upload_redaction import IDENTITY, as_cast, bundle, bundle_member, typed_events

    from crowdcode_sdk.redaction import Redactor

    random.seed(0)
    edits = typed_events(chars)
    casts = {
        "cast_test_output": as_cast(
            "".join(
                f"\x1b[32m{i:>6}\x1b[0m src/app/module_{i % 97}.py: 3 passed in 0.{i % 10}s\r\n" for i in range(40_000)
            )
        ),
        "cast_quiet": as_cast("".join(f"\x1b[1m{i:>8}\x1b[0m ok {i * 7 % 1000:>4} ms\r\n" for i in range(60_000))),
        "cast_scanned": as_cast(
            "".join(
                f"\x1b[36m12:{i % 60:02}:{i % 7:02}\x1b[0m INFO auth: session {i % 97} refreshed in 0.{i % 10}s\r\n"
                for i in range(40_000)
            )
        ),
    }

    def seconds(fn) -> float:  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    out = {
        "edits": {
            "raw": seconds(lambda: bundle(edits)),
            "redacted": seconds(lambda: bundle(Redactor(IDENTITY).lines(edits))),
            "amount": float(len(edits)),
        }
    }
    for name, cast in casts.items():
        out[name] = {
            "raw": seconds(lambda c=cast: bundle_member("terminals/t.cast", c)),
            "redacted": seconds(lambda c=cast: bundle_member("terminals/t.cast", Redactor(IDENTITY).cast(c))),
            "amount": len(cast) / 2**20,
        }
    return out


def child(checkout: Path, chars: int) -> dict[str, dict[str, float]]:
    env = {**os.environ, "PYTHONPATH": f"{checkout}{os.pathsep}{checkout / 'adapters'}"}
    result = subprocess.run(
        [sys.executable, __file__, "--child", "--chars", str(chars)], env=env, capture_output=True, check=True
    )
    return orjson.loads(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--against", type=Path, help="another checkout's root, run side by side")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--chars", type=int, default=20_000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.stdout.write(orjson.dumps(measure(args.chars)).decode())
        return
    checkouts = {"this": ROOT, **({"against": args.against.resolve()} if args.against else {})}
    runs: dict[str, list[dict[str, dict[str, float]]]] = {name: [] for name in checkouts}
    for _ in range(args.runs):
        for name, checkout in checkouts.items():
            runs[name].append(child(checkout, args.chars))
    print(f"medians of {args.runs} runs, alternating checkouts; load average {os.getloadavg()[0]:.1f}")
    for measure_name, goal in GOALS.items():
        unit = UNITS[measure_name]
        print(f"{measure_name}:")
        rates = {}
        for name, checkout in checkouts.items():
            amount = runs[name][0][measure_name]["amount"]
            raw = statistics.median(r[measure_name]["raw"] for r in runs[name])
            redacted = statistics.median(r[measure_name]["redacted"] for r in runs[name])
            rates[name] = amount / redacted
            print(
                f"  {name:8} {checkout}: raw {amount / raw:10.1f} {unit}, redacted {amount / redacted:10.1f} {unit}"
                f"  ({redacted / raw:5.1f}x the time of packing alone; {amount / redacted / goal:5.2f}x the goal of {goal:g})"
            )
        if "against" in rates:
            print(f"  this / against: {rates['this'] / rates['against']:.2f}x the throughput")


if __name__ == "__main__":
    main()
