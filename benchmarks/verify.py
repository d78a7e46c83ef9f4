"""`crowdcode verify` throughput: MB of journal per second, beside the floor of reading it.

    .venv/bin/python benchmarks/verify.py [--sessions 4] [--events 40000] [--runs 5]

Records sessions through real Sessions in a temporary CROWDCODE_HOME, as an editor adapter does:
files opened with their text, one-character typing (each keystroke followed by a viewport
observation, as crowd-code logs them), deletions, and a save with its content hash every few
hundred edits, in files of 10 KB to 1 MB, some with CRLF and non-BMP text. Then, side by side in
one run, it times ``crowdcode_sdk.verify`` on every session against only parsing the same
journals (``orjson.loads`` per line: what any reader pays) and prints medians, MB/s and the ratio.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path


def record_corpus(sessions: int, events: int, seed: int = 11) -> None:
    from crowdcode_sdk import Document, Edit, FileOpen, FileSave, Position, Session, Viewport
    from crowdcode_sdk.positions import content_facts

    rng = random.Random(seed)
    for number in range(sessions):
        with Session(adapter="bench", editor="bench", workspace=f"/tmp/ws{number}") as session:
            docs = {}
            for index, size in enumerate((10_000, 100_000, 1_000_000)):
                eol = "\r\n" if index == 1 else "\n"
                line = "    value = compute(index) + 1  # 😀" if index == 2 else "    value = compute(index) + 1"
                text = (line + eol) * (size // (len(line) + 1))
                path = f"src/file_{index}.py"
                docs[path] = Document(text)
                session.record(FileOpen(file=path, text=text, content=content_facts(text)))
            recorded = 0
            last = {}
            while recorded < events:
                path = rng.choice(list(docs))
                doc = docs[path]
                start = rng.randrange(len(doc))
                for ch in rng.choice(["result", "x + 1", "return"]) + ("\n" if rng.random() < 0.2 else ""):
                    event = session.record(Edit(file=path, diff=doc.replace(start, start, ch)))
                    last[path] = event.sequence
                    start += 1
                    cursor = doc.position_at(start)
                    first = max(cursor.line - 20, 0)
                    shown = min(first + 40, doc.line_count)
                    session.observe(
                        Viewport(
                            file=path,
                            start_line=first + 1,
                            end_line=shown,
                            content="".join(doc.line(i, keep_end=True) for i in range(first, shown)),
                            cursor_position=Position(line=cursor.line, character=cursor.character),
                        )
                    )
                    recorded += 2
                if rng.random() < 0.3:
                    end = min(start + rng.randrange(1, 40), len(doc))
                    last[path] = session.record(Edit(file=path, diff=doc.replace(start, end, ""))).sequence
                    recorded += 1
                if rng.random() < 0.01:
                    session.record(FileSave(file=path, last_edit_sequence=last[path], content=content_facts(doc.text)))
                    recorded += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="crowdcode-verify-bench-"))
    os.environ["CROWDCODE_HOME"] = str(home)
    try:
        import orjson

        from crowdcode_sdk import Store, journal, verify

        record_corpus(args.sessions, args.events)
        infos = Store().sessions()
        size = sum(p.stat().st_size for info in infos for p in journal.segments(info.directory))
        print(f"{len(infos)} sessions, {size / 1e6:.1f} MB of journal")

        def parse_only() -> None:
            for info in infos:
                for line in journal.read_lines(info.directory):
                    orjson.loads(line)

        def verify_all() -> None:
            for info in infos:
                verdict = verify(info)
                assert verdict.ok, verdict.summary()

        times: dict[str, list[float]] = {"parse": [], "verify": []}
        for _ in range(args.runs):
            for name, job in (("parse", parse_only), ("verify", verify_all)):  # alternated: same noise
                began = time.perf_counter()
                job()
                times[name].append(time.perf_counter() - began)
        parse, check = statistics.median(times["parse"]), statistics.median(times["verify"])
        print(f"parse only   median {parse:.3f} s  {size / 1e6 / parse:7.1f} MB/s")
        print(f"verify       median {check:.3f} s  {size / 1e6 / check:7.1f} MB/s")
        print(f"verify / parse time: {check / parse:.2f}x   (verify MB/s: {size / 1e6 / check:.1f})")
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
