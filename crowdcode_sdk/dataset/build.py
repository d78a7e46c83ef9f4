"""``crowdcode dataset build``: read → verify → quarantine → deduplicate → serialize → split → write.

Every session goes through :func:`crowdcode_sdk.serialize.dataset.process`, which verifies it in
the same pass as it serializes it and never raises for what is in the recording. A session that
does not verify, or cannot be read, is quarantined: one line with the reason, in
``quarantine.jsonl`` and on stderr, and the build goes on. Sessions are split by contributor
(a hash of the pseudonym), so nobody's work is in both splits.

Results are cached per session under ``DIR/.work/results``, keyed by what the session was read
from and the configuration, so a re-run on a grown store serializes only sessions that new
bundles added to; the output files are then written whole again, in session order, so a
re-run writes the same bytes as a fresh build.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ..serialize import engine as engines
from ..serialize.dataset import DatasetConfig, SessionResult
from ..serialize.sources import SessionSource
from . import card, outputs
from .ingest import Quarantined, Staging, stage
from .timelines import merge_overlapping


@dataclass(frozen=True)
class BuildOptions:
    engine: str = "local"
    workers: int | None = None
    ray_address: str | None = None
    progress: bool = True
    storage_options: dict[str, Any] = field(default_factory=dict)
    shard_rows: int = 10_000
    plots: bool = True


@dataclass
class Built:
    """What a build made: the results kept, the quarantine, and the report written."""

    results: list[SessionResult]
    quarantined: list[Quarantined]
    report: dict[str, Any]


def build(refs: list[str], out: Path, config: DatasetConfig, options: BuildOptions = BuildOptions()) -> Built:
    began = time.perf_counter()
    work = out / ".work"
    staging = Staging(work / "staging")
    staged = stage(refs, staging, options.storage_options)
    revoked = outputs.revoked(out)
    sources = [s for s in staged.sources if not ({s.contributor, s.session_id} & revoked)]
    sources, merged = merge_overlapping(sources)
    cache = _Cache(work / "results", config, staging.fingerprints())
    cached = {s.session_id: r for s in sources if (r := cache.get(s)) is not None}
    todo = [s for s in sources if s.session_id not in cached]
    fresh: Iterator[SessionResult] = iter(())  # nothing new: no engine (no Ray) started
    if todo:
        fresh = engines.run(
            todo, config, engine=options.engine, workers=options.workers, ray_address=options.ray_address
        )
    sessions = sum(len(s.parts) for s in todo)
    for source, result in zip(todo, _progress(fresh, sessions, options.progress), strict=True):
        cache.put(source, result)  # engines yield in the order of their sources
        cached[source.session_id] = result
    results = [cached[s.session_id] for s in sources]
    quarantined = list(staged.quarantined)
    for result in results:
        if result.error or not result.verified:
            what = " + ".join(result.sessions or [result.session_id])
            quarantined.append(Quarantined(what, result.reason or "does not verify"))
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "quarantine.jsonl", "wb") as listing:
        for item in quarantined:
            print(f"quarantined {item.what}: {item.reason}", file=sys.stderr)
            listing.write(orjson.dumps({"what": item.what, "reason": item.reason}) + b"\n")
    kept = [r for r in results if r.verified and not r.error]
    splits = {s.session_id: s.contributor or s.session_id for s in sources}
    written = outputs.write(out, kept, config, shard_rows=options.shard_rows)
    report = card.report(
        kept,
        quarantined,
        written,
        staged=staged,
        contributors=splits,
        reused=len(sources) - len(todo),
        merged=merged,
        shard_rows=options.shard_rows,
        seconds=time.perf_counter() - began,
        config=config,
        engine=options.engine,
    )
    card.write(out, report, kept, plots=options.plots)
    return Built(kept, quarantined, report)


def _progress(results: Iterator[SessionResult], total: int, enabled: bool) -> Iterable[SessionResult]:
    """A bar on a terminal; plain lines (every tenth of the way) in logs and pipes. Both count
    sessions (a merged timeline counts each of its sessions)."""
    if not enabled or total == 0:
        yield from results
        return
    if sys.stderr.isatty():
        from tqdm import tqdm

        with tqdm(total=total, unit="session", file=sys.stderr) as bar:
            for result in results:
                bar.update(len(result.sessions) or 1)
                yield result
        return
    step = max(1, total // 10)
    megabytes = 0.0
    done = 0
    for result in results:
        before = done
        done += len(result.sessions) or 1
        megabytes += result.bytes / 1e6
        if done // step > before // step or done == total:
            print(f"dataset: {done}/{total} sessions serialized ({megabytes:.1f} MB)", file=sys.stderr, flush=True)
        yield result


class _Cache:
    """Per-session results of earlier runs, valid while the session's input and the
    configuration are the same."""

    def __init__(self, root: Path, config: DatasetConfig, fingerprints: dict[str, str]) -> None:
        self.root = root
        self.config = hashlib.sha256(repr(config).encode()).hexdigest()
        self.fingerprints = fingerprints

    def _key(self, source: SessionSource) -> str:
        made_of = ":".join(self.fingerprints.get(part.session_id) or _stat(part) for part in source.parts)
        return hashlib.sha256(f"{self.config}:{source!r}:{made_of}".encode()).hexdigest()

    def get(self, source: SessionSource) -> SessionResult | None:
        path = self.root / f"{source.session_id}.pickle"
        try:
            key, result = pickle.loads(path.read_bytes())
        except (OSError, pickle.UnpicklingError, ValueError, EOFError):
            return None
        return result if key == self._key(source) else None

    def put(self, source: SessionSource, result: SessionResult) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / f"{source.session_id}.pickle"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(pickle.dumps((self._key(source), result)))
        os.replace(tmp, path)


def _stat(source: SessionSource) -> str:
    """Sizes and times of what a session read in place is made of."""
    path = Path(source.path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return orjson.dumps([(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files]).decode()
