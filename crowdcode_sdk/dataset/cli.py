"""``crowdcode dataset build SOURCE… --out DIR`` and ``crowdcode dataset delete DIR --revocations FILE``."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import orjson

from ..errors import CrowdcodeError
from ..extras import require
from ..serialize.cli import add_options, config_from


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("dataset", help="build a training dataset from uploads and recordings")
    commands = p.add_subparsers(dest="dataset_command", metavar="COMMAND", required=True)
    b = commands.add_parser(
        "build",
        help="read, verify, quarantine, deduplicate, serialize, split by contributor and write",
        description="SOURCE: an ingest store (a directory or fsspec URL such as s3://bucket/prefix), "
        "bundle files (.tar.zst), session directories or data directories, or crowd-code 2.0 bundles.",
    )
    b.add_argument("sources", nargs="+", metavar="SOURCE")
    b.add_argument(
        "--out",
        required=True,
        help="output directory or fsspec URL (kept between builds: re-runs add only what is new)",
    )
    add_options(b)
    b.add_argument("--shard-rows", type=int, default=10_000, help="examples per Parquet shard (default: 10000)")
    b.add_argument("--endpoint-url", help="S3 endpoint for s3:// sources and --out (e.g. a MinIO or moto server)")
    b.add_argument("--no-plots", action="store_true", help="no PNG plots in the dataset card")
    b.add_argument("--no-progress", action="store_true", help="no progress bar or lines")
    b.set_defaults(run=run_build)
    d = commands.add_parser(
        "delete",
        help="apply consent revocations: remove a contributor's or session's examples from a dataset",
    )
    d.add_argument(
        "out", metavar="DIR", help="a dataset built by `crowdcode dataset build` (a directory or its --out URL)"
    )
    d.add_argument(
        "--revocations",
        required=True,
        help="a file of install ids, contributor pseudonyms or session ids, one a line ('-': stdin)",
    )
    d.add_argument("--endpoint-url", help="S3 endpoint for an s3:// dataset (e.g. a MinIO or moto server)")
    d.set_defaults(run=run_delete)


def _require_dataset_extra(purpose: str) -> None:
    """The store and dataset files are read and written through fsspec and pyarrow, which the core
    install leaves out: say so in one line before the first import of them would be a traceback."""
    for module in ("fsspec", "pyarrow"):
        require(module, "dataset", purpose)


def run_build(args: argparse.Namespace) -> int:
    _require_dataset_extra("crowdcode dataset build")
    from .build import BuildOptions, build
    from .card import summary_line
    from .publish import is_url, local_dir, publish

    if args.shard_rows < 1:
        raise CrowdcodeError("--shard-rows must be at least 1")
    config = replace(config_from(args), next_edits=True)
    storage = {"client_kwargs": {"endpoint_url": args.endpoint_url}} if args.endpoint_url else {}
    options = BuildOptions(
        engine=args.engine,
        workers=args.workers,
        ray_address=args.ray_address,
        progress=not args.no_progress,
        storage_options=storage,
        shard_rows=args.shard_rows,
        plots=not args.no_plots,
    )
    out = local_dir(args.out) if is_url(args.out) else Path(args.out)
    built = build(args.sources, out, config, options)
    if is_url(args.out):
        publish(out, args.out, storage)
    print(summary_line(built.report, args.out))
    return 0


def run_delete(args: argparse.Namespace) -> int:
    _require_dataset_extra("crowdcode dataset delete")
    from .card import after_deletion
    from .outputs import delete
    from .publish import is_url, local_dir, publish

    try:
        text = sys.stdin.read() if args.revocations == "-" else Path(args.revocations).read_text()
    except OSError as exc:
        raise CrowdcodeError(f"{args.revocations}: {exc.strerror}") from None
    url = args.out if is_url(args.out) else None
    out = local_dir(url) if url else Path(args.out)
    if url and not (out / "training.jsonl").is_file():
        raise CrowdcodeError(f"{url}: not built on this machine (no {out}); delete where it was built, or rebuild")
    report = orjson.loads((out / "report.json").read_bytes()) if (out / "report.json").is_file() else {}
    shard_rows = report.get("serializer", {}).get("parquet_shard_rows", 10_000)
    deleted = delete(out, text.splitlines(), shard_rows=shard_rows)
    after_deletion(out, deleted)
    if url:
        publish(out, url, {"client_kwargs": {"endpoint_url": args.endpoint_url}} if args.endpoint_url else {})
    removed = deleted.examples
    print(f"removed {removed['train']} training + {removed['validation']} validation examples from {args.out}")
    return 0
