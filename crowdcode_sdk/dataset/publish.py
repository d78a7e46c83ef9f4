"""Datasets written to an fsspec URL (``s3://bucket/datasets/v1``): built in a local directory,
then copied up.

The build needs a local directory anyway (its staging copy of the bundles and its result cache,
which make re-runs incremental), so a URL ``--out`` is built in a local working directory kept
per URL in the data directory (``dataset-builds/``, never uploaded), and its files (everything but ``.work``) are put at the URL,
``report.json`` last so that its presence there, too, means the rest is complete.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import fsspec

from ..locations import Locations


def is_url(out: str) -> bool:
    return "://" in out and not out.startswith("file://")


def local_dir(url: str) -> Path:
    """Where a dataset for ``url`` is built and kept between runs."""
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    return Locations.default().data_dir / "dataset-builds" / digest


def publish(local: Path, url: str, storage_options: dict[str, Any] | None = None) -> int:
    """Copy the dataset in ``local`` to ``url``; return the number of files put. Files at the URL
    that the dataset no longer has (Parquet shards of an earlier, larger build) are removed
    first: ``load_dataset`` reads every ``data/*.parquet``, and a stale shard would bring back
    examples a revocation deleted."""
    fs, root = fsspec.core.url_to_fs(url, **(storage_options or {}))
    root = root.rstrip("/")
    files = sorted(p for p in local.rglob("*") if p.is_file() and ".work" not in p.relative_to(local).parts)
    keys = {f"{root}/{p.relative_to(local).as_posix()}" for p in files}
    if fs.exists(root):
        stale = sorted(key for key in fs.find(root) if key.rstrip("/") not in keys)
        if stale:
            fs.rm(stale)
    last = [p for p in files if p.name == "report.json" and p.parent == local]
    for path in [p for p in files if p not in last] + last:
        key = f"{root}/{path.relative_to(local).as_posix()}"
        fs.makedirs(key.rsplit("/", 1)[0], exist_ok=True)
        fs.put_file(str(path), key)
    return len(files)
