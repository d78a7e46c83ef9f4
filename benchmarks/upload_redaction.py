"""Cost of redaction and upload: what the background uploader spends per event and per MB.

Run: .venv/bin/python benchmarks/upload_redaction.py [--chars N] [--snapshot-mb M] [--runs R]

Side by side in one run (medians of R runs):
- bundling typed edits (one edit event per keystroke) raw vs through the redactor;
- bundling a workspace snapshot's text raw vs redacted (MB/s);
- bundling a terminal's raw stream (.cast) raw vs redacted, for test output full of paths and
  "passed" (every line passes the detectors' prefilter) and for quiet output (none does);
- redacting 10 Hz terminal screens (80x24), most of them repeating lines;
- sending bundles to a real ingest server on 127.0.0.1 (MB/s, two-step upload + acknowledgement).
The ratios show what redaction adds on top of packing, which is what the user pays in the
background (never on the recording path).
"""

from __future__ import annotations

import argparse
import random
import statistics
import string
import tempfile
import time
from pathlib import Path

import orjson

from crowdcode_sdk.redaction import Identity, IdentityMasker, Redactor
from crowdcode_sdk.upload.bundle import BundleWriter

CODE = '''def handler(event, context):
    """Process one request and return the response body."""
    user = lookup_user(event["userId"])
    if not user.active:
        raise PermissionError(f"user {user.id} is not active")
    total = sum(item.price * item.quantity for item in event["items"])
    return {"statusCode": 200, "body": json.dumps({"total": total})}
'''
SECRETS = ['API_KEY = "AKIAQYLPMN5HFIQR7XYZ"\n', "token = 'ghp_aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hI6'\n"]
IDENTITY = IdentityMasker(Identity(home="/home/alice", user="alice", host="alice-laptop"))


def typed_events(chars: int) -> list[bytes]:
    text = ""
    while len(text) < chars:
        text += CODE + random.choice(SECRETS)
    events = []
    for i, c in enumerate(text[:chars]):
        events.append(
            orjson.dumps(
                {
                    "sequence": i + 1,
                    "timestamp": i,
                    "type": "action",
                    "action": {
                        "kind": "edit",
                        "source": "user",
                        "file": "src/handler.py",
                        "diff": {"rangeOffset": i, "rangeLength": 0, "text": c},
                    },
                }
            )
        )
    return events


def screens(n: int) -> list[bytes]:
    rng = random.Random(1)
    rows = [" " * 80] * 24
    out = []
    for i in range(n):
        rows = [*rows[1:], f"$ ls -la src/{rng.choice(string.ascii_lowercase)}{i % 7}.py".ljust(80)]
        out.append(
            orjson.dumps(
                {
                    "sequence": i + 1,
                    "timestamp": i,
                    "type": "observation",
                    "observation": {
                        "viewport": None,
                        "activeTerminal": {"id": "t1", "name": "bash", "viewport": rows, "cols": 80, "rows": 24},
                    },
                }
            )
        )
    return out


def timed(fn, runs: int) -> float:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def bundle(lines: list[bytes]) -> bytes:
    writer = BundleWriter(install_id="0" * 32, sdk_version="bench")
    writer.add(f"sessions/{'1' * 32}/events-000001.jsonl", b"\n".join(lines) + b"\n")
    return writer.build()


def bundle_member(name: str, data: bytes) -> bytes:
    return BundleWriter("0" * 32, "b", {name: data}).build()


def as_cast(output: str) -> bytes:
    """An asciicast v2 stream of ``output`` in 4 KiB ``"o"`` events, as a recorder writes floods."""
    lines = [orjson.dumps({"version": 2, "width": 80, "height": 24})]
    lines += [orjson.dumps([i / 1000, "o", output[i : i + 4096]]) for i in range(0, len(output), 4096)]
    return b"\n".join(lines) + b"\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chars", type=int, default=20_000)
    parser.add_argument("--snapshot-mb", type=float, default=2.0)
    parser.add_argument("--screens", type=int, default=3_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    random.seed(0)

    edits = typed_events(args.chars)
    raw_edits = timed(lambda: bundle(edits), args.runs)
    red_edits = timed(lambda: bundle(Redactor(IDENTITY).lines(edits)), args.runs)

    text = ""
    while len(text) < args.snapshot_mb * 2**20:
        text += CODE + random.choice(SECRETS)
    snapshot = text.encode()
    raw_snap = timed(lambda: BundleWriter("0" * 32, "b", {f"snapshots/blobs/{'a' * 64}": snapshot}).build(), args.runs)
    red_snap = timed(lambda: Redactor(IDENTITY).text(text), args.runs)

    cast = as_cast(
        "".join(f"\x1b[32m{i:>6}\x1b[0m src/app/module_{i % 97}.py: 3 passed in 0.{i % 10}s\r\n" for i in range(40_000))
    )
    raw_cast = timed(lambda: bundle_member("terminals/t.cast", cast), args.runs)
    red_cast = timed(lambda: Redactor(IDENTITY).cast(cast), args.runs)
    # Output with nothing a detector looks at (no long token, no secret-sounding word): whole
    # lines are passed with one look per chunk.
    quiet = as_cast("".join(f"\x1b[1m{i:>8}\x1b[0m ok {i * 7 % 1000:>4} ms\r\n" for i in range(60_000)))
    raw_quiet = timed(lambda: bundle_member("terminals/t.cast", quiet), args.runs)
    red_quiet = timed(lambda: Redactor(IDENTITY).cast(quiet), args.runs)

    frames = screens(args.screens)
    red_screens = timed(lambda: Redactor(IDENTITY).lines(frames), args.runs)

    from crowdcode_sdk.server import RunningServer
    from crowdcode_sdk.upload.bundle import sha256_hex
    from crowdcode_sdk.upload.client import IngestClient

    big = b"\n".join(typed_events(args.chars * 4)) + b"\n"
    with tempfile.TemporaryDirectory() as tmp:
        server = RunningServer(str(Path(tmp, "store")))
        client = IngestClient(server.url, "0" * 32, Path(tmp, "tokens.json"))
        sizes = []

        def upload_fresh() -> None:  # a new bundle each time (the server dedups equal ones)
            data = BundleWriter(
                "0" * 32, f"bench-{len(sizes)}", {f"sessions/{'1' * 32}/events-000001.jsonl": big}
            ).build()
            sizes.append(len(data))
            path = Path(tmp, "b.tar.zst")
            path.write_bytes(data)
            client.upload(path, sha256_hex(data), len(data))

        upload_s = timed(upload_fresh, args.runs)
        client.close()
        server.close()

    n = len(edits)
    print(f"typed edits ({n} events, one per keystroke):")
    print(f"  bundle raw       {raw_edits * 1000:8.1f} ms  {n / raw_edits:10.0f} events/s")
    print(
        f"  bundle redacted  {red_edits * 1000:8.1f} ms  {n / red_edits:10.0f} events/s   ratio {red_edits / raw_edits:5.1f}x"
    )
    mb = len(snapshot) / 2**20
    print(f"snapshot text ({mb:.1f} MB):")
    print(f"  bundle raw       {raw_snap * 1000:8.1f} ms  {mb / raw_snap:10.1f} MB/s")
    print(
        f"  redact           {red_snap * 1000:8.1f} ms  {mb / red_snap:10.1f} MB/s       ratio {red_snap / raw_snap:5.1f}x"
    )
    for label, data, raw_s, red_s in (
        ("40k lines of coloured test output with paths", cast, raw_cast, red_cast),
        ("60k lines of quiet coloured output", quiet, raw_quiet, red_quiet),
    ):
        cast_mb = len(data) / 2**20
        print(f"raw terminal stream (.cast, {cast_mb:.1f} MB, {label}):")
        print(f"  bundle raw       {raw_s * 1000:8.1f} ms  {cast_mb / raw_s:10.1f} MB/s")
        print(
            f"  redact           {red_s * 1000:8.1f} ms  {cast_mb / red_s:10.1f} MB/s       ratio {red_s / raw_s:5.1f}x"
        )
    print(f"terminal screens ({len(frames)} frames 80x24):")
    print(f"  redact           {red_screens * 1000:8.1f} ms  {len(frames) / red_screens:10.0f} frames/s")
    print(f"upload to 127.0.0.1 ({len(big) / 2**20:.1f} MB of events, {sizes[0] / 2**10:.0f} KB compressed):")
    print(
        f"  build + announce + PUT + validate + store + ack  {upload_s * 1000:8.1f} ms  "
        f"{len(big) / 2**20 / upload_s:6.1f} MB/s of events"
    )


if __name__ == "__main__":
    main()
