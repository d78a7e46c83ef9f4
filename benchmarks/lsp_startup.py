"""Start-up of ``crowdcode lsp``: from the editor starting the process to ``session_start``.

Run: .venv/bin/python benchmarks/lsp_startup.py [--rounds N] [--baseline REV]

The client writes ``initialize`` and ``initialized`` as soon as the process runs, as the VS Code
extension does. Per start, two times from the spawn: the ``session_start`` event's own timestamp
(the recording has begun) and the ``initialize`` answer (the editor can send its documents).
Side by side in one run, alternating N rounds (10 by default) so that the machine's load hits all
alike, with the same Python and the same installed packages:

- ``python -c pass``: the interpreter alone, the floor;
- ``baseline``: the shim of git revision REV (default ``a2444ac``, before the session started
  from ``initialize``: every import, pygls's and lsprotocol's included, came first);
- ``crowdcode``: the shim of this tree (``crowdcode_lsp/prestart.py``);
- ``bundle, no .pyc`` and ``bundle, .pyc``: this tree's .vsix bundle (``plugins/vscode/bundled``,
  built by ``npm run package``) freshly copied before each start, as a first start after installing
  the extension: without compiled files (what the .vsix carried before) and with the ones
  ``scripts/bundle-python`` now compiles into it. Skipped when the bundle is not built.

Prints the medians and the ratios to the floor and to the baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "plugins" / "vscode" / "bundled"


def frame(body: dict) -> bytes:
    data = json.dumps(body).encode()
    return b"Content-Length: %d\r\n\r\n%s" % (len(data), data)


def read_frame(stream) -> dict:
    length = 0
    while (line := stream.readline()) not in (b"\r\n", b""):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return json.loads(stream.read(length))


def start(argv: list[str], env: dict[str, str], workspace: Path) -> tuple[float, float]:
    """Seconds from the spawn to ``session_start`` and to the ``initialize`` answer."""
    home = Path(env["CROWDCODE_HOME"])
    spawned = time.time()
    server = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert server.stdin and server.stdout
    init = {
        "processId": os.getpid(),
        "clientInfo": {"name": "Visual Studio Code", "version": "1.100.3"},
        "rootUri": workspace.as_uri(),
        "capabilities": {},
        "initializationOptions": {"host": "vscode", "status": True},
    }
    server.stdin.write(frame({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init}))
    server.stdin.write(frame({"jsonrpc": "2.0", "method": "initialized", "params": {}}))
    server.stdin.flush()
    while "result" not in read_frame(server.stdout):
        pass
    answered = time.time() - spawned
    server.stdin.write(frame({"jsonrpc": "2.0", "id": 2, "method": "shutdown"}))
    server.stdin.write(frame({"jsonrpc": "2.0", "method": "exit"}))
    server.stdin.close()
    server.wait(timeout=60)
    (journal,) = home.glob("**/sessions/*/events*")
    first = json.loads(journal.read_text().splitlines()[0])
    assert first["type"] == "action" and first["action"]["kind"] == "session_start", first
    return first["timestamp"] / 1000 - spawned, answered


def floor(python: str) -> float:
    spawned = time.time()
    subprocess.run([python, "-c", "pass"], check=True)
    return time.time() - spawned


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--baseline", default="a2444ac")
    args = parser.parse_args()
    python = sys.executable
    base_python = getattr(sys, "_base_executable", python)
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        old = tmp / "baseline"
        old.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", args.baseline, "crowdcode_sdk", "adapters"],
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(["tar", "x", "-C", str(old)], input=archive, check=True)
        workspace = tmp / "project"
        workspace.mkdir()

        def shim(tree: Path) -> tuple[list[str], dict[str, str]]:
            return [python, "-m", "crowdcode_sdk.cli.main", "lsp"], {
                "PYTHONPATH": f"{tree}{os.pathsep}{tree / 'adapters'}"
            }

        def bundle(compiled: bool) -> tuple[list[str], dict[str, str]]:
            copy = tmp / "bundle"
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(BUNDLE, copy, ignore=None if compiled else shutil.ignore_patterns("__pycache__"))
            return [base_python, str(copy / "tool" / "crowdcode_lsp.py")], {"PYTHONPATH": ""}

        variants: dict[str, Callable[[], tuple[list[str], dict[str, str]]]] = {
            "baseline": lambda: shim(old),
            "crowdcode": lambda: shim(ROOT),
        }
        if (BUNDLE / "libs").is_dir():
            variants["bundle, no .pyc"] = lambda: bundle(compiled=False)
            variants["bundle, .pyc"] = lambda: bundle(compiled=True)
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
        floors: list[float] = []
        for n, variant in enumerate(variants.values()):  # warm-up: compiled files for the source trees
            argv, extra = variant()
            start(argv, {**os.environ, **extra, "CROWDCODE_HOME": str(tmp / f"warm-{n}")}, workspace)
        for i in range(args.rounds):
            floors.append(floor(python))
            for n, (name, variant) in enumerate(variants.items()):
                argv, extra = variant()
                home = tmp / f"home-{i}-{n}"
                times[name].append(start(argv, {**os.environ, **extra, "CROWDCODE_HOME": str(home)}, workspace))
    low = statistics.median(floors)
    print(f"{args.rounds} rounds, load average {os.getloadavg()[0]:.1f}")
    print(f"{'python -c pass':<18} {low * 1000:7.0f} ms")
    baseline = statistics.median(t[0] for t in times["baseline"])
    print(f"{'':<18} {'session_start':>14} {'x floor':>8} {'x baseline':>11} {'initialize':>11}")
    for name, pairs in times.items():
        started = statistics.median(t[0] for t in pairs)
        answered = statistics.median(t[1] for t in pairs)
        print(
            f"{name:<18} {started * 1000:11.0f} ms {started / low:7.2f}x {started / baseline:10.2f}x"
            f" {answered * 1000:8.0f} ms"
        )


if __name__ == "__main__":
    main()
