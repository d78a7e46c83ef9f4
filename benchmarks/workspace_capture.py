"""Workspace capture shared by live sessions: does the cost stay flat in the number of sessions?

    .venv/bin/python benchmarks/workspace_capture.py [--files 1000] [--idle-files 50000] [--idle-s 10]
        [--against CHECKOUT] [--runs R]

Side by side, 1 and 5 live sessions on one git workspace, each with its own
:class:`~crowdcode_sdk.attribution.ownership.WorkspaceCapture` (the flock election runs as between
processes: every session holds its own open file description of the lock). The adapters are
mixed: the first session (the owner) is a terminal's, and of the five, two are editors' holding
5 open files each, which the owner asks about over their control sockets when they change:

1. Latency from a file's write on disk (its mtime) to its recorded ``file_change`` in whichever
   session owns the workspace: 20 single-file writes by another process, then 3 checkouts of N
   files (p50/p99, medians of the runs; git's own run time printed beside).
2. Idle CPU of this process over ``--idle-s`` seconds with the sessions watching a workspace of M
   files, after their start-up scan.
3. Idle CPU of 1 and 5 real ``crowdcode shell`` processes (wrapper, recorder and shell: every
   process of each terminal, from /proc) waiting at their prompts on that workspace, after the
   owner's scan.

Ratios printed are 5 sessions / 1 session. Everything runs in a temporary CROWDCODE_HOME.

``--against CHECKOUT`` (another checkout's root, e.g. ``git archive <commit> crowdcode_sdk adapters | tar -x -C /tmp/before``)
measures the latency part with that checkout's ``crowdcode_sdk`` too: each of ``--runs`` runs is one
child process per checkout, alternating, so that both see the same machine load; the figures are
medians over the runs, and the last column is this checkout / the other.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from attribution import git, latencies, make_repo, percentile  # the sibling benchmark's helpers

HERE = Path(__file__).resolve().parent


def start(workspace: Path, count: int, *, capture: bool = True):
    from crowdcode_sdk import Session
    from crowdcode_sdk.attribution.ownership import WorkspaceCapture

    events: list = []
    sessions, captures = [], []
    first = next(d for d in sorted(workspace.iterdir()) if d.is_dir() and d.name != ".git")
    held = [p for p in sorted(first.iterdir()) if p.name != "f0.py"]  # f0.py: the single writes' file
    for i in range(count):
        editor = i % 2 == 1
        session = Session(adapter="bench-editor" if editor else "bench", editor="bench", workspace=workspace)
        session.add_listener(events.append)
        sessions.append(session)
        if capture:
            captures.append(WorkspaceCapture(session, workspace, editor=editor))
            for path in held[5 * i : 5 * i + 5] if editor else ():
                captures[-1].engine.open_document(path, path.read_text())
    if not capture:
        return sessions, captures, None, events
    (owner,) = [c for c in captures if c.owner]
    assert owner.engine.drain(900)  # the scan of a large tree, on a loaded machine
    return sessions, captures, owner.engine, events


def stop(sessions, captures) -> None:
    for capture in captures:
        capture.close()
    for session in sessions:
        session.close()


def latency(root: Path, files: int, count: int) -> dict[str, float]:
    workspace = root / f"latency{count}"
    make_repo(workspace, files)
    sessions, captures, engine, events = start(workspace, count)
    single = []
    for i in range(20):
        mark = max((e.sequence for e in events), default=0)
        subprocess.run(
            [sys.executable, "-c", f"open({str(workspace / 'd0/f0.py')!r}, 'w').write('x = {i}\\n')"], check=True
        )
        engine.drain(30, grace=0.2)
        single += latencies(events, workspace, mark)
    git(workspace, "checkout", "-q", "--", ".")
    engine.drain(30)
    p50s, p99s, durations = [], [], []
    for branch in ("main", "b", "main"):
        seen = len(events)
        began = time.monotonic()
        git(workspace, "checkout", "-q", branch)
        durations.append((time.monotonic() - began) * 1000)
        engine.drain(60)
        values = latencies(events[seen:], workspace, 0)
        p50s.append(percentile(values, 0.5))
        p99s.append(percentile(values, 0.99))
    stop(sessions, captures)
    return {
        "single p50": statistics.median(single),
        "single p99": percentile(single, 0.99),
        "checkout p50": statistics.median(p50s),
        "checkout p99": statistics.median(p99s),
        "git ms": statistics.median(durations),
    }


def make_tree(workspace: Path, files: int) -> None:
    workspace.mkdir()
    git(workspace, "init", "-q", "-b", "main")
    for i in range(files):
        directory = workspace / f"pkg{i // 100:04d}"
        if i % 100 == 0:
            directory.mkdir()
        (directory / f"m{i}.py").write_text(f"# module {i}\nvalue = {i}\n")


def idle(workspace: Path, count: int, seconds: float, *, capture: bool) -> float:
    """CPU share of this process while ``count`` sessions idle (with or without capture)."""
    sessions, captures, _, _ = start(workspace, count, capture=capture)
    time.sleep(1)  # let the start-up settle
    cpu0, wall0 = time.process_time(), time.monotonic()
    time.sleep(seconds)
    used = (time.process_time() - cpu0) / (time.monotonic() - wall0)
    stop(sessions, captures)
    return used


def process_tree_cpu(root: int) -> float:
    """CPU seconds used so far by ``root`` and its live descendants."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo += [int(child) for child in (task / "children").read_text().split()]
        except (OSError, IndexError, ValueError):
            continue
    return total


def shells_idle(root: Path, workspace: Path, count: int, seconds: float) -> float:
    """CPU share of ``count`` real recorded terminals waiting at their prompts."""
    import pexpect

    user = root / "user"
    user.mkdir(exist_ok=True)
    (user / ".bashrc").write_text('PS1="$ "\n')
    env = {**os.environ, "HOME": str(user), "SHELL": "/bin/bash", "TERM": "xterm-256color"}
    argv = ["-m", "crowdcode_sdk.cli.main", "shell"]
    sessions = Path(os.environ["CROWDCODE_HOME"]) / "data" / "sessions"
    earlier = listed(sessions)
    children = []
    for _ in range(count):
        child = pexpect.spawn(sys.executable, argv, cwd=str(workspace), env=env, dimensions=(24, 80), timeout=60)
        child.expect_exact("$ ")
        children.append(child)
    deadline = time.monotonic() + 900
    while not scanned(listed(sessions) - earlier) and time.monotonic() < deadline:
        time.sleep(0.5)  # the owner records its start snapshot after its scan
    time.sleep(2)
    before, began = sum(process_tree_cpu(c.pid) for c in children), time.monotonic()
    time.sleep(seconds)
    used = (sum(process_tree_cpu(c.pid) for c in children) - before) / (time.monotonic() - began)
    for child in children:
        child.sendline("exit")
        child.expect(pexpect.EOF)
        child.close()
    return used


def listed(directory: Path) -> set[Path]:
    """The entries of ``directory`` (none before the first session makes it)."""
    return set(directory.iterdir()) if directory.is_dir() else set()


def scanned(directories: set[Path]) -> bool:
    """Whether one of these sessions (the owner) recorded its start snapshot."""
    return any(b'"workspace_snapshot"' in p.read_bytes() for d in directories for p in d.glob("events-*.jsonl"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--idle-files", type=int, default=50000)
    parser.add_argument("--idle-s", type=float, default=10.0)
    parser.add_argument("--parts", default="latency,sessions,shells", help="which of latency,sessions,shells")
    parser.add_argument("--against", type=Path, help="another checkout's root: latency side by side")
    parser.add_argument("--runs", type=int, default=1, help="latency runs per checkout (alternating)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.stdout.write(json.dumps(latencies_child(args.child_root, args.files)))
        return
    parts = set(args.parts.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["CROWDCODE_HOME"] = str(root / "home")
        if "latency" in parts:
            report_latency(root, args.files, args.against, args.runs)
        if not parts & {"sessions", "shells"}:
            return
        workspace = root / "idle"
        make_tree(workspace, args.idle_files)
        print(f"idle CPU on {args.idle_files} files over {args.idle_s:.0f} s (% of one core):")
        print(f"  {'':26}{'1 session':>12}{'5 sessions':>12}{'ratio':>8}")
        if "sessions" in parts:
            report_sessions_idle(workspace, args.idle_s)
        if "shells" in parts:
            shells = {n: shells_idle(root, workspace, n, args.idle_s) for n in (1, 5)}
            print(
                f"  {'crowdcode shell processes':26}{100 * shells[1]:11.4f}%{100 * shells[5]:11.4f}%"
                f"{ratio(shells[5], shells[1]):8.2f}"
            )


def latencies_child(root: Path, files: int) -> dict[str, dict[str, float]]:
    """The latency part with 1 and 5 sessions, in this process (``--child``)."""
    figures = {str(count): latency(root, files, count) for count in (1, 5)}
    for run in figures.values():
        run["beyond git"] = run["checkout p99"] - run["git ms"]
    return figures


def child(checkout: Path, root: Path, files: int) -> dict[str, dict[str, float]]:
    """The latency part in a child process whose ``crowdcode_sdk`` is ``checkout``'s."""
    env = {
        **os.environ,
        "PYTHONPATH": f"{checkout}{os.pathsep}{checkout / 'adapters'}",
        "CROWDCODE_HOME": str(root / "home"),
    }
    root.mkdir()
    argv = [sys.executable, __file__, "--child", "--files", str(files), "--child-root", str(root)]
    result = subprocess.run(argv, env=env, capture_output=True, check=True)
    return json.loads(result.stdout)


def report_latency(root: Path, files: int, against: Path | None, runs: int) -> None:
    checkouts = {"this": HERE.parent, **({"against": against.resolve()} if against else {})}
    measured: dict[str, list[dict[str, dict[str, float]]]] = {name: [] for name in checkouts}
    for run in range(runs):
        for name, checkout in checkouts.items():
            measured[name].append(child(checkout, root / f"{name}{run}", files))
    figures = {
        name: {
            count: {key: statistics.median(r[count][key] for r in results) for key in results[0][count]}
            for count in ("1", "5")
        }
        for name, results in measured.items()
    }
    print(
        f"latency, write -> file_change ({files}-file checkout, 3 checkouts a run; medians of {runs} runs;"
        f" load average {os.getloadavg()[0]:.1f}):"
    )
    header = f"  {'':14}{'1 session':>12}{'5 sessions':>12}{'ratio':>8}"
    print(header + (f"{'against 1':>12}{'against 5':>12}{'this/against (1, 5)':>22}" if against else ""))
    this = figures["this"]
    for key in this["1"]:
        one, five = this["1"][key], this["5"][key]
        line = f"  {key:14}{one:10.0f}ms{five:10.0f}ms{ratio(five, one):8.2f}"
        if against:
            other = figures["against"]
            a1, a5 = other["1"][key], other["5"][key]
            line += f"{a1:10.0f}ms{a5:10.0f}ms{ratio(one, a1):11.2f}{ratio(five, a5):11.2f}"
        print(line)
    print("  (goal: checkout p99 beyond git's own run < 500 ms; the machine's load shows in git's time)")


def report_sessions_idle(workspace: Path, seconds: float) -> None:
    cpu = {(n, c): idle(workspace, n, seconds, capture=c) for n in (1, 5) for c in (False, True)}
    for label, c in (("sessions alone", False), ("sessions with capture", True)):
        print(f"  {label:26}{100 * cpu[1, c]:11.4f}%{100 * cpu[5, c]:11.4f}%{ratio(cpu[5, c], cpu[1, c]):8.2f}")
    extra = [cpu[n, True] - cpu[n, False] for n in (1, 5)]
    print(
        f"  {'capture beyond sessions':26}{100 * extra[0]:11.4f}%{100 * extra[1]:11.4f}%{ratio(extra[1], extra[0]):8.2f}"
    )


def ratio(five: float, one: float) -> float:
    return five / one if one > 0 else float("nan")


if __name__ == "__main__":
    main()
