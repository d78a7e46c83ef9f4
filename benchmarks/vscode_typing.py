"""Typing latency in a real VS Code with and without the crowdcode extension.

Run: .venv/bin/python benchmarks/vscode_typing.py [--keys N] [--rounds R]   (after ./scripts/install-e2e-vscode)

code-server 4.100.3 (VS Code 1.100.3) in headless Chromium, driven by plugins/vscode/e2e/typing.js:
N keys (500 by default) pressed at a typist's pace into a 300-line file, each timed from its
``keydown`` to the editor's DOM change (a MutationObserver on the editor's lines), in the page.
Side by side in one run, alternating R rounds (2 by default) of N/R keys each, so that a change
of the machine's load hits both alike:

- ``without``: code-server with no extension installed;
- ``crowdcode``: the packaged .vsix recording (its language server, edit reasons, selections).

Prints the median and p90 of each and their ratios (crowdcode / without; the target is <= 1.05).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crowdcode_sdk.config import set_value
from crowdcode_sdk.locations import Locations
from tests.lsp.code_server import PLUGIN, browser_env, code_server


def one_round(base: Path, keys: int, extension: bool) -> list[float]:
    workspace = base / "project"
    workspace.mkdir(parents=True)
    (workspace / "typing.txt").write_text("".join(f"line {n}\n" for n in range(300)))
    with code_server(base, workspace, extension=extension) as url:
        out = base / "typing.json"
        subprocess.run(
            ["node", "typing.js", url, "typing.txt", str(base / "chromium"), str(out), str(keys)],
            cwd=PLUGIN / "e2e",
            env=browser_env(base),
            check=True,
            timeout=600,
        )
    result = json.loads(out.read_text())
    if "error" in result:
        raise RuntimeError(result["error"])
    return result["latencies"]


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    samples: dict[str, list[float]] = {"without": [], "crowdcode": []}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["CROWDCODE_HOME"] = str(Path(tmp) / "home")
        set_value(Locations.default(), "consent.status", "declined")  # no consent modal in the way
        for round_ in range(args.rounds):
            for name in samples:
                base = Path(tmp) / f"{name}-{round_}"
                samples[name] += one_round(base, args.keys // args.rounds, extension=name == "crowdcode")
    for name, values in samples.items():
        print(f"{name:>10}: {len(values)} keys, median {statistics.median(values):.1f} ms, p90 {p90(values):.1f} ms")
    ratio_median = statistics.median(samples["crowdcode"]) / statistics.median(samples["without"])
    ratio_p90 = p90(samples["crowdcode"]) / p90(samples["without"])
    print(f"crowdcode / without: median {ratio_median:.2f}x, p90 {ratio_p90:.2f}x (target <= 1.05x)")


if __name__ == "__main__":
    main()
