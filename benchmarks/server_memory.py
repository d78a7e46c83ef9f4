"""Memory per concurrent large upload: the ingest server against its predecessor.

Run: .venv/bin/python benchmarks/server_memory.py [--mb 20] [--concurrency 1,20] [--runs 3] [--against COMMIT]

Side by side in one run, each on a fresh process and store (the contenders of
``benchmarks/server.py``: ``old``, the ``http.server`` server of commit 7300d94, and ``new``,
``crowdcode serve``), ``C`` clients PUT one bundle of ``--mb`` MB of random content each at the
same moment, streamed from disk with ``sendfile``, and the server's peak RSS (VmHWM) is read once
all are acknowledged; the MB/s they went in at (all bytes over the time until the last answer)
shows what the memory bound costs in speed. "MB per upload" is the slope between the lowest and the highest
concurrency, ``(peak(C_max) - peak(C_min)) / (C_max - C_min)``: what one more upload in flight
costs, free of the interpreter's own footprint. Prints medians of R runs and the ratios to ``old``.
With ``--against COMMIT`` the first contender is instead ``crowdcode serve`` as of that commit
(``at-COMMIT``, extracted as ``benchmarks/server.py --against`` does): what a change costs.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.server import OLD_COMMIT, ROOT, extract, peak_rss_mb, start, tree
from crowdcode_sdk.upload.bundle import BundleWriter

EVENT = b'{"sequence":1,"timestamp":1,"type":"action","action":{"kind":"focus_change","focused":true}}\n'


def write_bundle(path: Path, install_id: str, number: int, megabytes: int) -> str:
    blob = os.urandom(megabytes << 20)
    writer = BundleWriter(install_id=install_id, sdk_version="bench")
    writer.add(f"snapshots/blobs/{hashlib.sha256(blob).hexdigest()}", blob)
    writer.add(f"sessions/{number:032x}/events-000001.jsonl", EVENT)
    data = writer.build(level=1)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def put(url: str, path: str, file: Path, answers: list[int], go: threading.Event) -> None:
    """One PUT, its body sent with ``sendfile`` from disk: the client holds no body in memory."""
    host, port = url.removeprefix("http://").split(":")
    size = file.stat().st_size
    with socket.create_connection((host, int(port))) as sock, open(file, "rb") as f:
        go.wait()
        sock.sendall(f"PUT {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: {size}\r\n\r\n".encode())
        sock.sendfile(f)
        answer = b""
        while b"\r\n" not in answer and (chunk := sock.recv(4096)):
            answer += chunk
    answers.append(int(answer.split()[1]) if answer else 0)


def peak(
    kind: str, clients: int, files: list[tuple[Path, str, str]], tmp: Path, old_tree: Path, source: Path
) -> tuple[float, float]:
    """The server's peak RSS in MB with ``clients`` uploads at once, and the MB/s they went in at."""
    limits = ("--max-bundle-mb", "1024", "--max-uploads-per-install", "512")
    process, url = start("old" if kind == "old" else "new", 1, tmp, old_tree, *limits, source=source)
    try:
        uploads = []
        for file, install_id, sha in files[:clients]:
            token = httpx.post(f"{url}/v1/installs", json={"installId": install_id}).json()["token"]
            auth = {"Authorization": f"Bearer {token}"}
            answer = httpx.post(f"{url}/v1/uploads", json={"sha256": sha, "size": file.stat().st_size}, headers=auth)
            uploads.append((answer.json()["uploadUrl"], file))
        answers: list[int] = []
        go = threading.Event()
        threads = [threading.Thread(target=put, args=(url, path, file, answers, go)) for path, file in uploads]
        for thread in threads:
            thread.start()
        started = time.perf_counter()
        go.set()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        if sorted(answers) != [201] * clients:
            raise SystemExit(f"{kind}: answers {sorted(answers)}")
        sent = sum(file.stat().st_size for _path, file in uploads) / 1e6
        return peak_rss_mb(tree(process.pid)), sent / elapsed
    finally:
        process.terminate()
        process.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=int, default=20, help="random content per bundle, MB")
    parser.add_argument("--concurrency", default="1,20", help="concurrent uploads, lowest and highest")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--against", metavar="COMMIT", help="compare with crowdcode serve as of this commit")
    args = parser.parse_args()
    low, high = (int(x) for x in args.concurrency.split(","))
    kinds = [f"at-{args.against}" if args.against else "old", "new"]
    base = kinds[0]
    slopes: dict[str, list[float]] = {kind: [] for kind in kinds}
    peaks: dict[tuple[str, int], list[float]] = {}
    rates: dict[str, list[float]] = {kind: [] for kind in kinds}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        old_tree = extract(tmp, OLD_COMMIT, "crowdcode_sdk")
        sources = {kind: ROOT for kind in kinds}
        if args.against:
            sources[base] = extract(tmp, args.against, "crowdcode_sdk", "adapters")
        files = []
        for n in range(high):
            install_id = f"{n:032x}"
            path = tmp / f"bundle-{n}.tar.zst"
            files.append((path, install_id, write_bundle(path, install_id, n, args.mb)))
        for run in range(args.runs):
            for kind in kinds if run % 2 == 0 else reversed(kinds):  # alternate the order against drift
                at = {clients: peak(kind, clients, files, tmp, old_tree, sources[kind]) for clients in (low, high)}
                for clients, (mb, _rate) in at.items():
                    peaks.setdefault((kind, clients), []).append(mb)
                slopes[kind].append((at[high][0] - at[low][0]) / (high - low))
                rates[kind].append(at[high][1])
    print(f"bundles of {args.mb} MB random content, medians of {args.runs} runs, load average {os.getloadavg()[0]:.1f}")
    print(
        f"{'server':>8} {f'peak MB at {low}':>14} {f'peak MB at {high}':>15} {'MB per upload':>14} {f'MB/s at {high}':>12}"
    )
    for kind in kinds:
        print(
            f"{kind:>8} {statistics.median(peaks[(kind, low)]):>14.1f} {statistics.median(peaks[(kind, high)]):>15.1f} "
            f"{statistics.median(slopes[kind]):>14.2f} {statistics.median(rates[kind]):>12.1f}"
        )
    ratio = statistics.median(slopes["new"]) / statistics.median(slopes[base])
    print(f"new/{base} MB per upload: {ratio:.3f}x")
    rate_ratio = statistics.median(rates["new"]) / statistics.median(rates[base])
    print(f"new/{base} MB/s at {high} uploads at once: {rate_ratio:.2f}x")


if __name__ == "__main__":
    main()
