"""The files a dataset is made of, and the deletion of revoked contributors' examples.

* ``training.jsonl`` / ``validation.jsonl``: the serializer's lines (NeMo SFT or chat), each with
  ``provenance``; assistant turns carry ``source`` and ``train``.
* ``data/<split>-NNNNN-of-NNNNN.parquet``: the same examples in one schema whatever the JSONL
  format (:data:`SCHEMA`), for ``datasets.load_dataset("parquet", data_dir=DIR + "/data")``.
* ``next_edit/training.jsonl`` / ``next_edit/validation.jsonl``: next-edit prediction examples
  (:mod:`crowdcode_sdk.serialize.next_edit`), each confirmed against a recorded save.
* ``revocations.json``: contributors and sessions whose examples were deleted; builds leave
  them out from then on.

Parquet is written with pyarrow (the format's reference implementation, which ``datasets``
itself reads with).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ..errors import CrowdcodeError
from ..serialize.dataset import DatasetConfig, SessionResult
from .ingest import pseudonym

SPLITS = {"train": "training", "validation": "validation"}


def _schema() -> Any:
    import pyarrow as pa  # type: ignore[import-untyped]

    message = pa.struct(
        [
            ("role", pa.string()),
            ("content", pa.string()),
            ("source", pa.string()),
            ("train", pa.bool_()),
        ]
    )
    return pa.schema(
        [
            ("id", pa.string()),
            ("contributor", pa.string()),
            ("session", pa.string()),
            ("sessions", pa.list_(pa.string())),
            ("first_sequence", pa.int64()),
            ("last_sequence", pa.int64()),
            ("verified", pa.bool_()),
            ("system", pa.string()),
            ("messages", pa.list_(message)),
        ]
    )


@dataclass
class Written:
    examples: dict[str, int]
    shards: dict[str, int]
    next_edits: dict[str, int]


def write(out: Path, results: list[SessionResult], config: DatasetConfig, *, shard_rows: int) -> Written:
    """Write the JSONL files and Parquet shards of ``results`` (in their order)."""
    out.mkdir(parents=True, exist_ok=True)
    lines: dict[str, list[bytes]] = {split: [] for split in SPLITS}
    edits: dict[str, list[bytes]] = {split: [] for split in SPLITS}
    for result in results:
        lines[result.split] += result.lines
        edits[result.split] += result.next_edits
    (out / "next_edit").mkdir(exist_ok=True)
    shards: dict[str, int] = {}
    data = out / "data"
    data.mkdir(exist_ok=True)
    for old in data.glob("*.parquet"):
        old.unlink()
    for split, name in SPLITS.items():
        _replace(out / f"{name}.jsonl", b"".join(lines[split]))
        _replace(out / "next_edit" / f"{name}.jsonl", b"".join(edits[split]))
        shards[split] = _parquet(data, split, [row(orjson.loads(line)) for line in lines[split]], shard_rows)
    return Written(
        {split: len(lines[split]) for split in SPLITS}, shards, {split: len(edits[split]) for split in SPLITS}
    )


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def row(line: dict[str, Any]) -> dict[str, Any]:
    """One JSONL line (either format) as a Parquet row."""
    origin = line["provenance"]
    if "messages" in line:
        system = line["messages"][0]["content"]
        turns = [
            {"role": m["role"], "content": m["content"], "source": m.get("source"), "train": m.get("train", False)}
            for m in line["messages"][1:]
        ]
    else:
        system = line["system"]
        role = {"Assistant": "assistant", "User": "user"}
        turns = [
            {"role": role[m["from"]], "content": m["value"], "source": m.get("source"), "train": m.get("train", False)}
            for m in line["conversations"]
        ]
    return {
        "id": f"{origin['session']}:{origin['first_sequence']}-{origin['last_sequence']}",
        "contributor": origin["contributor"],
        "session": origin["session"],
        "sessions": origin["sessions"],
        "first_sequence": origin["first_sequence"],
        "last_sequence": origin["last_sequence"],
        "verified": origin["verified"],
        "system": system,
        "messages": turns,
    }


def _parquet(directory: Path, split: str, rows: list[dict[str, Any]], shard_rows: int) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    if not rows:
        return 0
    count = (len(rows) + shard_rows - 1) // shard_rows
    for index in range(count):
        part = rows[index * shard_rows : (index + 1) * shard_rows]
        table = pa.Table.from_pylist(part, schema=_schema())
        path = directory / f"{split}-{index:05d}-of-{count:05d}.parquet"
        tmp = path.with_name(f".{path.name}.tmp")
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, path)
    return count


# --- consent revocations -------------------------------------------------------------------------


def _without(data: bytes, wanted: set[str]) -> list[bytes]:
    """The JSONL lines of ``data`` whose provenance names none of ``wanted``."""
    kept = []
    for line in data.splitlines(keepends=True):
        origin = orjson.loads(line)["provenance"]
        if not {origin["contributor"], origin["session"], *origin["sessions"]} & wanted:
            kept.append(line)
    return kept


def revoked(out: Path) -> set[str]:
    """Contributor pseudonyms and session ids whose examples must never be in ``out`` again."""
    try:
        return set(orjson.loads((out / "revocations.json").read_bytes())["revoked"])
    except (OSError, ValueError, KeyError, TypeError):
        return set()


@dataclass
class Deleted:
    """What a revocation removed: examples and next-edit examples per split, and the names."""

    examples: dict[str, int]
    next_edits: dict[str, int]
    wanted: set[str]


def delete(out: Path, names: Iterable[str], *, shard_rows: int) -> Deleted:
    """Apply revocations to the dataset in ``out``: every example of a named contributor (install
    id or pseudonym) or session (or timeline holding it) is removed from the JSONL files, the
    next-edit files and the Parquet shards (rewritten in shards of ``shard_rows``), and later
    builds leave them out."""
    if not (out / "training.jsonl").is_file():
        raise CrowdcodeError(f"{out}: not a dataset (no training.jsonl)")
    wanted = set()
    for name in names:
        name = name.strip()
        if name and not name.startswith("#"):
            wanted |= {name, pseudonym(name)}
    if not wanted:
        raise CrowdcodeError("no revocations given")
    removed: dict[str, int] = {}
    edits_removed: dict[str, int] = {}
    data = out / "data"
    for split, name in SPLITS.items():
        edits_removed[split] = _remove(out / "next_edit" / f"{name}.jsonl", wanted)
        removed[split] = _remove(out / f"{name}.jsonl", wanted)
        for old in data.glob(f"{split}-*.parquet"):
            old.unlink()
        kept = (out / f"{name}.jsonl").read_bytes().splitlines()
        _parquet(data, split, [row(orjson.loads(line)) for line in kept], shard_rows)
    all_revoked = sorted(revoked(out) | wanted)
    _replace(out / "revocations.json", orjson.dumps({"revoked": all_revoked}, option=orjson.OPT_INDENT_2))
    return Deleted(removed, edits_removed, wanted)


def _remove(path: Path, wanted: set[str]) -> int:
    """Remove the lines of JSONL file ``path`` whose provenance names one of ``wanted``; how many."""
    if not path.is_file():
        return 0
    data = path.read_bytes()
    kept = _without(data, wanted)
    _replace(path, b"".join(kept))
    return len(data.splitlines()) - len(kept)
