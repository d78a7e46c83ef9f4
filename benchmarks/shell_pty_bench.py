"""`crowdcode shell` against `asciinema rec` and `script(1)` with the shared PTY harness, one run.

    .venv/bin/python benchmarks/shell_pty_bench.py [--tests startup,throughput] [--reps 10]
        [--size-mb 100] [--against OTHER_CHECKOUT] [--harness ../shared/tools/pty_bench.py]

The goals of `crowdcode shell` are stated against its peers as pty_bench measures them
(docs/benchmarks.md): start-up (inner `true`) at most 0.5x `asciinema rec`'s, throughput (`cat`
of a large file) at least 1.0x `script(1)`'s. This runs pty_bench once with every contender
interleaved (A B C A B C ...), prints its tables, and then each crowdcode's ratios to the peer:
the median over reps of (crowdcode's wall time / the peer's in the same rep), so that the shared
machine's slow and fast spells cancel, next to the ratio of the medians.

`--script-file` adds `script(1)` writing its typescript to a file (`script_file`) rather than to
`/dev/null`, as the goal's peer does: what keeping the recording costs `script(1)`, next to what
it costs the recorder, which keeps every byte too.

`--python-floor` adds `python_passthrough.py` (`python_floor`): the least a Python pass-through
can do, recording nothing, so that what CPython itself costs is told apart from what crowdcode adds.

`--against` adds a second checkout (its root, with `adapters/` beside `crowdcode_sdk/`) as
`cc_other`, for before/after figures from the same run. Both checkouts' modules are compiled to
bytecode first, as an installation's are: a checkout run with PYTHONDONTWRITEBYTECODE compiles
every module from source on each start, which costs more than the start-up being measured.
Consent is declined in a throwaway CROWDCODE_HOME, so that no notice is printed.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
PEERS = {"startup": "asciinema", "throughput": "script", "flood": "script"}


def crowdcode_template(checkout: Path, home: Path) -> str:
    path = f"{checkout}{os.pathsep}{checkout / 'adapters'}"
    return (
        shlex.join(
            [
                "env",
                f"CROWDCODE_HOME={home}",
                f"PYTHONPATH={path}",
                sys.executable,
                "-P",
                "-m",
                "crowdcode_sdk.cli.main",
            ]
        )
        + " shell -- sh -c {cmd}"
    )


def per_rep_ratio(runs: list[dict], peer_runs: list[dict]) -> float | None:
    """Median over reps of this target's wall time over the peer's in the same rep."""
    peer = {r["rep"]: r["wall_s"] for r in peer_runs if "error" not in r}
    ratios = [r["wall_s"] / peer[r["rep"]] for r in runs if "error" not in r and r["rep"] in peer]
    return statistics.median(ratios) if ratios else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tests", default="startup,throughput")
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--size-mb", type=float, default=100)
    parser.add_argument("--against", type=Path, help="another checkout to compare with (cc_other)")
    parser.add_argument("--script-file", action="store_true", help="add script(1) keeping its typescript")
    parser.add_argument("--python-floor", action="store_true", help="add a bare Python pass-through (python_floor)")
    parser.add_argument(
        "--data-dir", type=Path, help="where pty_bench keeps its generated file (default: a temporary one)"
    )
    parser.add_argument("--harness", type=Path, default=ROOT.parent / "shared" / "tools" / "pty_bench.py")
    args = parser.parse_args()
    if not args.harness.is_file():
        print(f"shell_pty_bench: no harness at {args.harness} (--harness)", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="cc-ptybench-"))
    home = work / "home"
    checkouts = {"cc": ROOT, **({"cc_other": args.against.resolve()} if args.against else {})}
    for checkout in checkouts.values():
        for package in ("crowdcode_sdk", "adapters"):
            compileall.compile_dir(checkout / package, quiet=1)
    env = {**os.environ, "CROWDCODE_HOME": str(home), "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'adapters'}"}
    env.pop("CROWDCODE_SHELL", None)
    subprocess.run(
        [sys.executable, "-m", "crowdcode_sdk.cli.main", "consent", "decline"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    results = work / "runs.json"
    command = [
        sys.executable,
        str(args.harness),
        "--tests",
        args.tests,
        "--reps",
        str(args.reps),
        "--size-mb",
        str(args.size_mb),
        "--data-dir",
        str(args.data_dir or work / "data"),
        "--json",
        str(results),
        "-w",
        "script=script -q -c {cmd} /dev/null",
    ]
    if args.script_file:
        command += ["-w", f"script_file=script -q -c {{cmd}} {work / 'typescript'}"]
    asciinema = VENV_BIN / "asciinema"
    if asciinema.exists():
        command += ["-w", f"asciinema={asciinema} rec --quiet --overwrite -c {{cmd}} {work / 'x.cast'}"]
    for name, checkout in checkouts.items():
        command += ["-w", f"{name}={crowdcode_template(checkout, home)}"]
    contenders = list(checkouts)
    if args.python_floor:
        floor = shlex.join([sys.executable, "-S", str(ROOT / "benchmarks" / "python_passthrough.py")])
        command += ["-w", f"python_floor={floor} sh -c {{cmd}}"]
        contenders.append("python_floor")
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    status = subprocess.run(command, env={k: v for k, v in os.environ.items() if k != "CROWDCODE_SHELL"}).returncode
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    out = json.loads(results.read_text())["results"]
    shutil.rmtree(work, ignore_errors=True)
    comparisons = [*PEERS.items(), *((test, "script_file") for test in ("throughput", "flood") if args.script_file)]
    for test, peer in comparisons:
        if test not in out or peer not in out[test]:
            continue
        summary = out[test]
        print(f"\n{test}: crowdcode against {peer} (wall time ratio; < 1 is faster)")
        for name in contenders:
            ratio = per_rep_ratio(summary[name]["runs"], summary[peer]["runs"])
            medians = summary[name].get("wall_s", 0) / summary[peer]["wall_s"] if summary[peer].get("wall_s") else None
            if ratio is None or medians is None:
                print(f"  {name}: no successful runs")
                continue
            cpu = summary[name]["cpu_child_s"], summary[peer]["cpu_child_s"]
            print(
                f"  {name}: {ratio:.2f}x per rep (median), {medians:.2f}x of the medians;"
                f" child CPU {cpu[0]:.2f} s against {cpu[1]:.2f} s"
            )
            if test != "startup":
                print(f"  {name}: throughput {1 / ratio:.2f}x {peer}'s")
    return status


if __name__ == "__main__":
    sys.exit(main())
