"""The ingest server against its predecessor: uploads/s, MB/s and peak memory by concurrency.

Run: .venv/bin/python benchmarks/server.py [--levels 1,10,100] [--uploads 600] [--events 400] [--runs 3]

Side by side in one run, each on a fresh process and store, on 127.0.0.1:
- ``new``: ``crowdcode serve`` from this tree (Starlette + uvicorn, streaming validation);
- ``old``: the ``http.server`` ingest server as of commit 7300d94, extracted from git history
  into a temporary directory (``git archive``) and run from there, unchanged.
Each level runs ``C`` concurrent clients (asyncio + httpx, one connection each) doing the whole
protocol per bundle: ask for an upload URL, PUT the bytes, ask for the acknowledgement. A
failure (a reset connection, a 5xx) is counted, not retried. Peak RSS is the server process's
VmHWM. Prints medians of R runs and the new/old ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from crowdcode_sdk.upload.bundle import BundleWriter

ROOT = Path(__file__).resolve().parent.parent
OLD_COMMIT = "7300d94"
OLD_SERVER = """
import sys
from crowdcode_sdk.server import BundleStore, IngestServer
server = IngestServer(("127.0.0.1", 0), BundleStore(sys.argv[1]))
print("old ingest server on http://127.0.0.1:%d," % server.server_address[1], flush=True)
server.serve_forever()
"""
EVENT = b'{"sequence":%d,"timestamp":%d,"type":"action","action":{"kind":"focus_change","focused":true}}\n'


def bundle(install_id: str, number: int, events: int) -> bytes:
    writer = BundleWriter(install_id=install_id, sdk_version="bench")
    session = f"{number:032x}"
    writer.add(f"sessions/{session}/events-000001.jsonl", b"".join(EVENT % (i, i) for i in range(1, events + 1)))
    return writer.build()


def start(kind: str, tmp: Path, old_tree: Path) -> tuple[subprocess.Popen[str], str]:
    store = tempfile.mkdtemp(dir=tmp)
    if kind == "old":
        command = [sys.executable, "-c", OLD_SERVER, store]
        env = {**os.environ, "PYTHONPATH": str(old_tree)}
    else:
        command = [sys.executable, "-m", "crowdcode_sdk.cli.main", "serve", "--port", "0", "--store", store]
        command += [
            "--requests-per-ip",
            "1e9",
            "--registrations-per-ip",
            "1e9",
            "--requests-per-install",
            "1e9",
            "--max-uploads",
            "512",
        ]
        env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'adapters'}"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=tmp)
    assert process.stdout is not None
    line = process.stdout.readline()
    if " on " not in line:
        process.kill()
        process.wait()
        raise SystemExit(f"the {kind} server did not start")
    return process, line.split(" on ")[1].split(",")[0]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def contributor(url: str, install_id: str, bundles: list[bytes], failures: list[str]) -> int:
    limits = httpx.Limits(max_connections=1)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
        try:
            token = (await http.post("/v1/installs", json={"installId": install_id})).json()["token"]
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            failures.append(type(exc).__name__)
            return 0
        auth = {"Authorization": f"Bearer {token}"}
        done = 0
        for data in bundles:
            sha = hashlib.sha256(data).hexdigest()
            try:
                answer = await http.post("/v1/uploads", json={"sha256": sha, "size": len(data)}, headers=auth)
                answer.raise_for_status()
                put = await http.put(answer.json()["uploadUrl"], content=data)
                put.raise_for_status()
                ack = await http.get(f"/v1/bundles/{sha}", headers=auth)
                ack.raise_for_status()
                done += ack.json()["sha256"] == sha
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                failures.append(type(exc).__name__)
        return done


async def level(url: str, clients: int, uploads: int, events: int) -> tuple[float, float, int, int]:
    per_client = max(1, uploads // clients)
    work = {f"{c:032x}": [bundle(f"{c:032x}", n, events) for n in range(per_client)] for c in range(clients)}
    size = sum(len(d) for ds in work.values() for d in ds)
    failures: list[str] = []
    started = time.perf_counter()
    done = await asyncio.gather(*(contributor(url, i, b, failures) for i, b in work.items()))
    elapsed = time.perf_counter() - started
    return sum(done) / elapsed, size / elapsed / 1e6, sum(done), len(failures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--levels", default="1,10,100")
    parser.add_argument("--uploads", type=int, default=600, help="uploads per level (split across clients)")
    parser.add_argument("--events", type=int, default=400, help="events per bundle")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    results: dict[tuple[str, int], list[tuple[float, float, int, int, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        old_tree = tmp / "old"
        old_tree.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", OLD_COMMIT, "crowdcode_sdk"], capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(old_tree)], input=archive.stdout, check=True)
        for _ in range(args.runs):
            for clients in levels:
                for kind in ("old", "new"):
                    process, url = start(kind, tmp, old_tree)
                    try:
                        rate, mbps, done, failed = asyncio.run(level(url, clients, args.uploads, args.events))
                        rss = peak_rss_mb(process.pid)
                    finally:
                        process.terminate()
                        process.wait(timeout=60)
                    results.setdefault((kind, clients), []).append((rate, mbps, done, failed, rss))
    size = len(bundle("0" * 32, 0, args.events))
    print(
        f"bundles of {size / 1024:.1f} KiB ({args.events} events), {args.uploads} uploads per level, medians of {args.runs} runs"
    )
    print(f"{'clients':>7} {'server':>6} {'uploads/s':>10} {'MB/s':>7} {'failed':>7} {'peak RSS MB':>12}")
    for clients in levels:
        medians = {}
        for kind in ("old", "new"):
            runs = results[(kind, clients)]
            medians[kind] = [statistics.median(r[i] for r in runs) for i in range(5)]
            rate, mbps, _done, failed, rss = medians[kind]
            print(f"{clients:>7} {kind:>6} {rate:>10.1f} {mbps:>7.2f} {failed:>7.0f} {rss:>12.1f}")
        old, new = medians["old"], medians["new"]
        print(
            f"{clients:>7} {'new/old':>6} {new[0] / old[0]:>9.2f}x {new[1] / old[1]:>6.2f}x {'':>7} {new[4] / old[4]:>11.2f}x"
        )


if __name__ == "__main__":
    main()
