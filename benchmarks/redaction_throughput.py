"""Throughput of the one redaction path against its goals and against another checkout.

Run: .venv/bin/python benchmarks/redaction_throughput.py [--against CHECKOUT] [--runs R] [--chars N]

Seven measures, each also packed raw (a bundle without redaction) in the same process:
- typed edits, one edit event per keystroke (code with secrets): events/s, goal 50,000;
- typed edits below a private key the file held when it was opened, a Backspace every eighth
  keystroke (each deletion of typed text near a key looks for the key's rows): events/s, 50,000;
- a terminal's raw stream (.cast) of coloured test output with paths and "passed" (every line
  passed the detectors' old prefilter, a 16-character token or the word "pass"; none passes the
  gate of detector.py): MB/s, goal 20;
- a .cast of quiet coloured output (no line passes either): MB/s, goal 20;
- a .cast of coloured log lines with an ``auth:`` field and no secret (every line passes the gate
  and is scanned by the detectors): MB/s, goal 20;
- a .cast of shell command lines that name programs with password options and give none
  (``docker run -p``, ``mysql -u root -p db``, ``ssh -p``, ``redis-cli -p``: every line meets a
  program-specific rule's needles, the program's name, and is scanned unless the rule's
  condition, the name then the option, keeps it out): MB/s, goal 20;
- a .cast of ``docker compose`` logs of services named ``mysql``, ``mongo``, ``redis`` (their
  names head every line): MB/s, goal 20.

Each run is one child process per checkout, alternating (this one, then ``--against``), so that
both see the same machine load; the figures are medians over the runs. ``--against`` is another
checkout's root (e.g. ``git archive <commit> crowdcode_sdk adapters | tar -x -C /tmp/before``):
its ``crowdcode_sdk`` does the redacting, this file's generators make the same data for both.
"""

from __future__ import annotations

import argparse
import base64
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
GOALS = {
    "edits": 50_000.0,
    "edits_near_a_key": 50_000.0,
    "cast_test_output": 20.0,
    "cast_quiet": 20.0,
    "cast_scanned": 20.0,
    "cast_commands": 20.0,
    "cast_compose": 20.0,
}
UNITS = {name: "events/s" if name.startswith("edits") else "MB/s" for name in GOALS}


def edits_near_a_key(chars: int) -> list[bytes]:
    """A file opened holding a private key (4 KB of code each side), then typed below the key
    with a Backspace every eighth keystroke: every deletion of typed text in a document that holds
    a key looks for the key's rows around it."""
    rng = random.Random(2)
    body = base64.b64encode(rng.randbytes(1200)).decode()
    key = "-----BEGIN PRIVATE KEY-----\n" + "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    code = "".join(f"def handler_{i}(request):\n    return respond(request, {i})\n\n" for i in range(80))
    opened = code + key + "\n-----END PRIVATE KEY-----\n" + code
    events = [
        {
            "sequence": 1,
            "timestamp": 0,
            "type": "action",
            "action": {"kind": "file_open", "file": "k.py", "text": opened},
        }
    ]
    offset = len(opened)
    for i in range(chars):
        sequence = len(events) + 1
        if i % 8 == 7:
            offset -= 1
            diff = {"rangeOffset": offset, "rangeLength": 1, "text": ""}
        else:
            diff = {"rangeOffset": offset, "rangeLength": 0, "text": "x = value + 1\n"[i % 14]}
            offset += 1
        action = {"kind": "edit", "source": "user", "file": "k.py", "diff": diff}
        events.append({"sequence": sequence, "timestamp": i, "type": "action", "action": action})
    return [orjson.dumps(e) for e in events]


def _command(i: int) -> str:
    """A command line that names a program with a password option, and gives no password."""
    return (
        f"docker run -p {8000 + i % 97}:80 -v data_{i}:/data nginx",
        f"mysql -u root -p shop_{i % 13} -h db{i % 7}.internal",
        f"ssh -p {2200 + i % 50} deploy@host{i % 31}",
        f"redis-cli -h cache{i % 5} -p 6379 get session:{i}",
        f"openssl rsa -in key{i % 9}.pem -passin env:KEY_PASS -noout",
    )[i % 5]


def measure(chars: int) -> dict[str, dict[str, float]]:
    """One run in this process: seconds raw and redacted, and the amount, per measure."""
    sys.path.insert(0, str(HERE))
    from upload_redaction import IDENTITY, as_cast, bundle, bundle_member, typed_events

    from crowdcode_sdk.redaction import Redactor

    random.seed(0)
    edits = typed_events(chars)
    near_a_key = edits_near_a_key(chars)
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
        "cast_commands": as_cast("".join(f"\x1b[1mREADY$\x1b[0m {_command(i)}\r\n" for i in range(40_000))),
        "cast_compose": as_cast(
            "".join(
                f"\x1b[3{i % 3 + 1}m{('mysql', 'mongo', 'redis')[i % 3]}-1  |\x1b[0m 2026-12-05T04:{i % 60:02}:00Z"
                f" [Note] connection {i} accepted from 172.18.0.{i % 250}:{40000 + i % 9999}\r\n"
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
        },
        "edits_near_a_key": {
            "raw": seconds(lambda: bundle(near_a_key)),
            "redacted": seconds(lambda: bundle(Redactor(IDENTITY).lines(near_a_key))),
            "amount": float(len(near_a_key)),
        },
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
