"""Attribution benchmarks: watcher latency, idle cost, snapshot cost.

    .venv/bin/python benchmarks/attribution.py [--files 1000] [--idle-files 50000] [--snapshot-files 10000]
                                               [--terminals 3]

1. Latency from a file's write on disk (its mtime) to its recorded ``file_change``, when one
   ``git checkout`` changes N files, side by side with single-file writes by another process;
   3 checkouts, medians of p50/p99.
2. Idle watcher on a large workspace: CPU time and resident memory of this process over 10 s with
   the engine watching, side by side with the same 10 s before it started.
3. Workspace snapshots of a repository of M files: the first (every file read, compressed and
   stored) vs a second of the unchanged workspace (only a manifest), time and bytes.
4. Latency from a write to its ``file_change`` in a workspace where K recorded terminals work
   (each asked whether it has caught up before the change is decided), side by side with a
   workspace of the same watcher where none does; writes alternate between the two, medians.

Everything runs in a temporary CROWDCODE_HOME and workspace.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "b",
    "GIT_AUTHOR_EMAIL": "b@b",
    "GIT_COMMITTER_NAME": "b",
    "GIT_COMMITTER_EMAIL": "b@b",
}


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True)


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def start(workspace: Path):
    from crowdcode_sdk import Session
    from crowdcode_sdk.attribution import Attribution

    session = Session(adapter="bench", editor="bench", workspace=workspace)
    events: list = []
    session.add_listener(events.append)
    return session, Attribution(session, roots=[workspace]), events


def latencies(events: list, workspace: Path, since: int) -> list[float]:
    found = []
    for event in events:
        wire = event.to_wire()
        action = wire.get("action") or {}
        if action.get("kind") != "file_change" or event.sequence <= since:
            continue
        path = workspace / action["file"]
        if path.exists():
            found.append(event.timestamp - path.stat().st_mtime_ns / 1e6)
    return found


def make_repo(workspace: Path, files: int) -> None:
    """A repository of ``files`` files on ``main`` and branch ``b`` (checked out) changing all of them."""
    workspace.mkdir()
    git(workspace, "init", "-q", "-b", "main")
    for i in range(files):
        (workspace / f"d{i % 20}").mkdir(exist_ok=True)
        (workspace / f"d{i % 20}/f{i}.py").write_text(f"value = {i}\n")
    git(workspace, "add", "-A")
    git(workspace, "commit", "-qm", "a")
    git(workspace, "checkout", "-q", "-b", "b")
    for i in range(files):
        (workspace / f"d{i % 20}/f{i}.py").write_text(f"value = {i * 2}\n")
    git(workspace, "commit", "-qam", "b")


def bench_latency(root: Path, files: int) -> None:
    workspace = root / "latency"
    make_repo(workspace, files)
    session, att, events = start(workspace)
    single = []
    for i in range(20):
        mark = events[-1].sequence
        subprocess.run(
            [sys.executable, "-c", f"open({str(workspace / 'd0/f0.py')!r}, 'w').write('x = {i}\\n')"], check=True
        )
        att.drain(30, grace=0.2)
        single += latencies(events, workspace, mark)
    git(workspace, "checkout", "-q", "--", ".")
    att.drain(30)
    p50s, p99s, counts, durations = [], [], [], []
    for branch in ("main", "b", "main"):
        mark = events[-1].sequence
        began = time.monotonic()
        git(workspace, "checkout", "-q", branch)
        durations.append((time.monotonic() - began) * 1000)
        att.drain(60)
        values = latencies(events, workspace, mark)
        counts.append(len(values))
        p50s.append(percentile(values, 0.5))
        p99s.append(percentile(values, 0.99))
    att.close()
    session.close()
    single_p50 = statistics.median(single)
    print(f"latency, write -> file_change event ({files}-file checkout, 3 runs, medians):")
    print(f"  single-file write by a process: p50 {single_p50:7.0f} ms   p99 {percentile(single, 0.99):7.0f} ms")
    print(
        f"  checkout of {files} files:        p50 {statistics.median(p50s):7.0f} ms   p99 "
        f"{statistics.median(p99s):7.0f} ms   (git itself ran {statistics.median(durations):.0f} ms; "
        f"events per run {counts})"
    )
    print(f"  ratio checkout p99 / single p50: {statistics.median(p99s) / single_p50:.2f}")


TERMINAL = """
import sys
from crowdcode_sdk import Session

session = Session(adapter="bench-terminal", editor="bench", workspace=sys.argv[1])
session.publish(terminal={"id": "term-bench", "name": "bash"}, cwd=sys.argv[1])
session.add_control("caught_up", lambda message: {"ok": True, "caughtUp": True})
print("ready", flush=True)
sys.stdin.read()
session.close()
"""
"""A recorded terminal as the owner of a workspace sees it: a live session that publishes a
terminal working in the workspace and answers ``caught_up`` (always yes: what is measured is the
asking, not a lagging recorder)."""


def bench_terminals(root: Path, count: int) -> None:
    beside, alone = root / "beside-terminals", root / "alone"
    for workspace in (beside, alone):
        workspace.mkdir()
        (workspace / "f.py").write_text("x = 0\n")
    terminals = [
        subprocess.Popen([sys.executable, "-c", TERMINAL, str(beside)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        for _ in range(count)
    ]
    try:
        for terminal in terminals:
            assert terminal.stdout is not None and terminal.stdout.readline() == b"ready\n"
        from crowdcode_sdk import Session
        from crowdcode_sdk.attribution import Attribution

        session = Session(adapter="bench", editor="bench", workspace=root)
        events: list = []
        session.add_listener(events.append)
        att = Attribution(session, roots=[beside, alone])
        measured: dict[Path, list[float]] = {beside: [], alone: []}
        for i in range(40):
            workspace = (beside, alone)[i % 2]
            mark = events[-1].sequence if events else -1
            subprocess.run(
                [sys.executable, "-c", f"open({str(workspace / 'f.py')!r}, 'w').write('x = {i}\\n')"], check=True
            )
            att.drain(30, grace=0.2)
            measured[workspace] += latencies(events, root, mark)  # file names are relative to the session's root
        att.close()
        session.close()
    finally:
        for terminal in terminals:
            terminal.communicate(b"")
    with_p50, without_p50 = statistics.median(measured[beside]), statistics.median(measured[alone])
    print(
        f"latency, write -> file_change event, {count} recorded terminals asked or none (20 writes each, alternating):"
    )
    print(f"  beside {count} terminals: p50 {with_p50:6.0f} ms   p99 {percentile(measured[beside], 0.99):6.0f} ms")
    print(f"  no terminal:        p50 {without_p50:6.0f} ms   p99 {percentile(measured[alone], 0.99):6.0f} ms")
    print(f"  ratio of the p50s: {with_p50 / without_p50:.2f}")


def bench_idle(root: Path, files: int) -> None:
    workspace = root / "idle"
    for i in range(files):
        directory = workspace / f"pkg{i // 100:04d}"
        if i % 100 == 0:
            directory.mkdir(parents=True)
        (directory / f"m{i}.py").write_text(f"# module {i}\nvalue = {i}\n")
    idle_s = 10.0
    rss0 = rss_mib()
    cpu0, wall0 = time.process_time(), time.monotonic()
    time.sleep(idle_s)
    base_cpu = time.process_time() - cpu0
    base_wall = time.monotonic() - wall0
    began = time.monotonic()
    session, att, _ = start(workspace)
    scan_s = time.monotonic() - began
    rss1 = rss_mib()
    time.sleep(1)  # let the start-up settle
    cpu0, wall0 = time.process_time(), time.monotonic()
    time.sleep(idle_s)
    watch_cpu = time.process_time() - cpu0
    watch_wall = time.monotonic() - wall0
    rss2 = rss_mib()
    att.close()
    session.close()
    print(f"idle watcher on {files} files ({files // 100} directories), {idle_s:.0f} s:")
    print(f"  start-up scan and first snapshot: {scan_s:.1f} s")
    print(
        f"  CPU without the engine: {100 * base_cpu / base_wall:.3f} %   with it watching: "
        f"{100 * watch_cpu / watch_wall:.3f} %   (difference {1000 * (watch_cpu - base_cpu) / idle_s:.1f} ms/s)"
    )
    print(
        f"  resident memory: {rss0:.0f} MiB before, {rss1:.0f} MiB after start-up, {rss2:.0f} MiB after idling "
        f"(+{rss2 - rss0:.0f} MiB)"
    )


def module_text(i: int) -> str:
    """A plausible source file of about 3 KB (the median size of files in typical repositories)."""
    body = "".join(
        f"def handler_{i}_{j}(request, retries={j % 4}):\n"
        f'    """Handle request {j} of module {i}."""\n'
        f"    result = request.get('key_{j}', {i * j})\n"
        f"    if result > {j * 7}:\n        return result - {j}\n"
        f"    return result + retries\n\n\n"
        for j in range(16)
    )
    return f'"""Module {i}: generated for the snapshot benchmark."""\n\nimport os\n\n\n' + body


def bench_snapshots(root: Path, files: int) -> None:
    from crowdcode_sdk.locations import Locations

    workspace = root / "snap"
    for i in range(files):
        directory = workspace / f"src{i // 200:03d}"
        if i % 200 == 0:
            directory.mkdir(parents=True)
        (directory / f"file{i}.py").write_text(module_text(i))
    source_bytes = dir_bytes(workspace)
    store = Locations.default().data_dir / "snapshots"
    before = dir_bytes(store)
    began = time.monotonic()
    session, att, _ = start(workspace)  # the scan stores every file and takes the first snapshot
    first_s = time.monotonic() - began
    first_bytes = dir_bytes(store) - before
    mid = dir_bytes(store)
    began = time.monotonic()
    att.snapshot()
    second_s = time.monotonic() - began
    second_bytes = dir_bytes(store) - mid
    att.close()
    session.close()
    mid = dir_bytes(store)
    began = time.monotonic()
    session, att, _ = start(workspace)  # a new session: re-reads everything, stores nothing new
    restart_s = time.monotonic() - began
    restart_bytes = dir_bytes(store) - mid
    att.close()
    session.close()
    print(f"snapshots of {files} files ({source_bytes / 1e6:.1f} MB of source):")
    print(f"  first (scan, compress, store):          {first_s:6.2f} s  {first_bytes / 1e6:8.2f} MB")
    print(
        f"  second, same session (manifest only):   {second_s:6.2f} s  {second_bytes / 1e6:8.2f} MB  "
        f"({100 * second_bytes / first_bytes:.1f} % of the first)"
    )
    print(
        f"  first of a new session (re-scan):       {restart_s:6.2f} s  {restart_bytes / 1e6:8.2f} MB  "
        f"({100 * restart_bytes / first_bytes:.1f} % of the first)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--idle-files", type=int, default=50_000)
    parser.add_argument("--snapshot-files", type=int, default=10_000)
    parser.add_argument("--terminals", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["CROWDCODE_HOME"] = str(root / "home")
        bench_latency(root, args.files)
        bench_snapshots(root, args.snapshot_files)
        bench_idle(root, args.idle_files)
        bench_terminals(root, args.terminals)


if __name__ == "__main__":
    main()
