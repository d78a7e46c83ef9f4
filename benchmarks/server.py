"""The ingest server against its predecessor: uploads/s, MB/s and peak memory by concurrency.

Run: .venv/bin/python benchmarks/server.py [--levels 1,10,100] [--uploads 600] [--events 400]
     [--runs 3] [--workers 2] [--client-processes 4] [--against COMMIT]

Side by side in one run, each on a fresh process and store, on 127.0.0.1:
- ``old``: the ``http.server`` ingest server as of commit 7300d94, extracted from git history
  into a temporary directory (``git archive``) and run from there, unchanged;
- ``new``: ``crowdcode serve`` from this tree (Starlette + uvicorn, streaming validation), one
  process;
- ``new-wW``: the same with ``--workers W`` (W processes on one port, ``SO_REUSEPORT``).
With ``--against COMMIT`` the contenders are instead ``crowdcode serve`` as of that commit
(``at-COMMIT``, extracted the same way) and ``new``: what a change to the server costs.
Each level runs ``C`` concurrent clients (asyncio, one keep-alive connection each) doing the whole
protocol per bundle: ask for an upload URL, PUT the bytes, ask for the acknowledgement. A
failure (a reset connection, a 5xx) is counted, not retried. The clients are spread over several
processes so that the load generator, not the server, is never the one Python process that
caps the figures. Peak RSS is the sum of the server processes' VmHWM; "cpu ms/upload" is the CPU
time the server processes spent per acknowledged upload (the figure least moved by other load on
the machine). Prints medians of R runs, the ratios to ``old``, and the load average. The
contenders run back to back within a run, in alternating order from run to run, and the ratio
of uploads/s is also taken within each run and its median printed with its range: on a shared
machine the load drifts between runs far more than within one, so a paired ratio is steadier
than a ratio of medians.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

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


def start(
    kind: str, workers: int, tmp: Path, old_tree: Path, *extra: str, source: Path = ROOT
) -> tuple[subprocess.Popen[str], str]:
    """A fresh ``kind`` server (``old`` or ``new``, the latter from the checkout at ``source``) on
    a fresh store; ``extra`` options go to ``new``."""
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
            "--workers",
            str(workers),
            *extra,
        ]
        env = {**os.environ, "PYTHONPATH": f"{source}{os.pathsep}{source / 'adapters'}"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=tmp)
    assert process.stdout is not None
    line = process.stdout.readline()
    if " on " not in line:
        process.kill()
        process.wait()
        raise SystemExit(f"the {kind} server did not start")
    return process, line.split(" on ")[1].split(",")[0]


def extract(tmp: Path, commit: str, *paths: str) -> Path:
    """``paths`` as of ``commit``, from git history, in a directory of its own under ``tmp``."""
    tree = tmp / f"at-{commit}"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, *paths], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


def tree(pid: int) -> list[int]:
    """The process and its descendants (the workers of ``--workers``)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *(p for child in children for p in tree(int(child)))]


def peak_rss_mb(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1]) / 1024
    return total


def cpu_seconds(pids: list[int]) -> float:
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


class Failed(Exception):
    """A request that got no 2xx answer (a reset, a refusal, a 5xx)."""


class Connection:
    """One keep-alive HTTP/1.1 connection, spoken by hand over asyncio streams.

    The load generator must cost less than the servers it measures: httpx spends more CPU per
    request than either server (about 4 ms here), so with it the clients, not the servers, set
    the figures. Both servers answer with Content-Length; a closed connection is reopened.
    """

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.address = (host, int(port))
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(self, method: str, path: str, body: bytes = b"", token: str = "") -> dict[str, Any]:
        if self.streams is None:
            self.streams = await asyncio.open_connection(*self.address)
        reader, writer = self.streams
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        head = f"{method} {path} HTTP/1.1\r\nHost: bench\r\n{auth}Content-Length: {len(body)}\r\n\r\n"
        try:
            writer.write(head.encode() + body)
            status_line, *lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
            answer = await reader.readexactly(int(headers.get("content-length", "0")))
        except (OSError, asyncio.IncompleteReadError) as exc:
            await self.close()
            raise Failed(type(exc).__name__) from None
        if headers.get("connection", "").lower() == "close":
            await self.close()
        if not status_line.split()[1].startswith("2"):
            raise Failed(status_line)
        value: dict[str, Any] = orjson.loads(answer)
        return value

    async def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


async def contributor(url: str, install_id: str, bundles: list[bytes], failures: list[str]) -> int:
    http = Connection(url)
    try:
        token = (await http.request("POST", "/v1/installs", orjson.dumps({"installId": install_id})))["token"]
    except (Failed, KeyError) as exc:
        failures.append(str(exc))
        return 0
    done = 0
    for data in bundles:
        sha = hashlib.sha256(data).hexdigest()
        try:
            answer = await http.request("POST", "/v1/uploads", orjson.dumps({"sha256": sha, "size": len(data)}), token)
            await http.request("PUT", answer["uploadUrl"], data)
            ack = await http.request("GET", f"/v1/bundles/{sha}", token=token)
            done += ack["sha256"] == sha
        except (Failed, KeyError) as exc:
            failures.append(str(exc))
    await http.close()
    return done


async def contributors(url: str, work: dict[str, list[bytes]]) -> tuple[int, int]:
    failures: list[str] = []
    done = await asyncio.gather(*(contributor(url, i, b, failures) for i, b in work.items()))
    return sum(done), len(failures)


def client_process(url: str, work: dict[str, list[bytes]], go: Any, results: Any) -> None:
    go.wait()
    results.put(asyncio.run(contributors(url, work)))


def level(url: str, clients: int, uploads: int, events: int, processes: int) -> tuple[float, float, int, int]:
    """Run ``clients`` contributors spread over ``processes`` processes, all starting at once."""
    per_client = max(1, uploads // clients)
    work = {f"{c:032x}": [bundle(f"{c:032x}", n, events) for n in range(per_client)] for c in range(clients)}
    size = sum(len(d) for ds in work.values() for d in ds)
    parts = [dict(list(work.items())[i::processes]) for i in range(min(processes, clients))]
    context = multiprocessing.get_context("fork")
    go, results = context.Event(), context.Queue()
    pool = [context.Process(target=client_process, args=(url, part, go, results)) for part in parts]
    for process in pool:
        process.start()
    started = time.perf_counter()
    go.set()
    outcomes = [results.get() for _ in pool]
    elapsed = time.perf_counter() - started
    for process in pool:
        process.join()
    done, failed = sum(o[0] for o in outcomes), sum(o[1] for o in outcomes)
    return done / elapsed, size / elapsed / 1e6 * done / (clients * per_client), done, failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--levels", default="1,10,100")
    parser.add_argument("--uploads", type=int, default=600, help="uploads per level (split across clients)")
    parser.add_argument("--events", type=int, default=400, help="events per bundle")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="processes of the new server's second contender")
    parser.add_argument("--client-processes", type=int, default=4, help="processes the clients are spread over")
    parser.add_argument("--against", metavar="COMMIT", help="compare with crowdcode serve as of this commit")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    if args.against:
        kinds = [(f"at-{args.against}", 1), ("new", 1)]
    else:
        kinds = [("old", 1), ("new", 1), (f"new-w{args.workers}", args.workers)]
    base = kinds[0][0]
    results: dict[tuple[str, int], list[tuple[float, ...]]] = {}
    loads = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        old_tree = extract(tmp, OLD_COMMIT, "crowdcode_sdk")
        sources = {kind: ROOT for kind, _ in kinds}
        if args.against:
            sources[base] = extract(tmp, args.against, "crowdcode_sdk", "adapters")
        for run in range(args.runs):
            for clients in levels:
                for kind, workers in kinds if run % 2 == 0 else reversed(kinds):  # alternate: drift hits all
                    process, url = start(
                        "old" if kind == "old" else "new", workers, tmp, old_tree, source=sources[kind]
                    )
                    try:
                        before = cpu_seconds(tree(process.pid))
                        rate, mbps, done, failed = level(url, clients, args.uploads, args.events, args.client_processes)
                        pids = tree(process.pid)
                        cpu_ms = (cpu_seconds(pids) - before) * 1000 / max(done, 1)
                        rss = peak_rss_mb(pids)
                        loads.append(os.getloadavg()[0])
                    finally:
                        process.terminate()
                        process.wait(timeout=60)
                    results.setdefault((kind, clients), []).append((rate, mbps, done, failed, rss, cpu_ms))
    size = len(bundle("0" * 32, 0, args.events))
    print(
        f"bundles of {size / 1024:.1f} KiB ({args.events} events), {args.uploads} uploads per level, "
        f"medians of {args.runs} runs, clients in {args.client_processes} processes, "
        f"load average {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores"
    )
    print(
        f"{'clients':>7} {'server':>8} {'uploads/s':>10} {'MB/s':>7} {'failed':>7} {'peak RSS MB':>12} {'cpu ms/upload':>14}"
    )
    for clients in levels:
        medians = {}
        for kind, _workers in kinds:
            runs = results[(kind, clients)]
            medians[kind] = [statistics.median(r[i] for r in runs) for i in range(6)]
            rate, mbps, _done, failed, rss, cpu_ms = medians[kind]
            print(f"{clients:>7} {kind:>8} {rate:>10.1f} {mbps:>7.3f} {failed:>7.0f} {rss:>12.1f} {cpu_ms:>14.1f}")
        old = medians[base]
        for kind, _workers in kinds[1:]:
            new = medians[kind]
            label = f"{kind}/{base}"
            print(
                f"{clients:>7} {label:>8} {new[0] / old[0]:>9.2f}x {new[1] / old[1]:>6.2f}x {'':>7} "
                f"{new[4] / old[4]:>11.2f}x {new[5] / old[5]:>13.2f}x"
            )
    print(f"uploads/s ratios to {base} paired within each run (the contenders ran back to back): median [min-max]")
    for clients in levels:
        for kind, _workers in kinds[1:]:
            paired = [n[0] / o[0] for n, o in zip(results[(kind, clients)], results[(base, clients)], strict=True)]
            print(
                f"{clients:>7} {kind + '/' + base:>8} {statistics.median(paired):>9.2f}x [{min(paired):.2f}-{max(paired):.2f}]"
            )


if __name__ == "__main__":
    main()
