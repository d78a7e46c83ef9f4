"""``crowdcode serialize SESSION…|DIR --out DIR``: training data from recordings.

Writes ``training.jsonl``, ``validation.jsonl`` and ``metadata.json``; see docs/serialization.md.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

import orjson
from tqdm import tqdm

from ..errors import CrowdcodeError
from . import engine as engines
from .conversation import Options
from .dataset import DEFAULT_SYSTEM_PROMPT, DatasetConfig
from .sources import resolve
from .tokens import load_tokenizer


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "serialize",
        help="turn sessions into training conversations (NeMo SFT JSONL or chat JSONL)",
        description="SOURCES: session ids (or prefixes, 'latest'), session directories, directories of "
        "sessions (a data dir or corpus), or crowd-code 2.0 bundles.",
    )
    p.add_argument("sources", nargs="+", metavar="SESSION|DIR")
    p.add_argument("--out", required=True, help="output directory")
    add_options(p)
    p.add_argument(
        "--workspaces",
        action="store_true",
        help="also write each session's initial workspace to workspaces/SESSION.json ({path: text}), "
        "where its file commands replay from",
    )
    p.add_argument(
        "--verified-only",
        action="store_true",
        help="leave out sessions that `crowdcode verify` rejects (they stay listed in metadata.json)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def add_options(p: argparse.ArgumentParser) -> None:
    """The serializer's options, shared with ``crowdcode dataset build``."""
    p.add_argument("--format", choices=("nemo", "chat"), default="nemo", help="JSONL line format (default: nemo)")
    p.add_argument("--engine", choices=engines.ENGINES, default="local", help="where to run (default: local)")
    p.add_argument("--workers", type=int, help="processes (local) or CPUs for a local Ray (default: all cores)")
    p.add_argument("--ray-address", help="an existing Ray cluster (default: start a local one)")
    p.add_argument("--tokenizer", help="a local Hugging Face tokenizer.json (default: UTF-8 bytes / 4)")
    p.add_argument("--max-tokens-per-conversation", type=int, default=8192)
    p.add_argument("--max-tokens-per-message", type=int, default=2048)
    p.add_argument("--max-output-tokens", type=int, default=256, help="terminal and agent output cut (default: 256)")
    p.add_argument("--min-conversation-messages", type=int, default=5)
    p.add_argument("--viewport-radius", type=int, default=10)
    p.add_argument("--coalesce-radius", type=int, default=5)
    p.add_argument("--val-ratio", type=float, default=0.1)
    p.add_argument("--system-prompt", default=DEFAULT_SYSTEM_PROMPT)
    p.add_argument("--path-prefix", help="write paths as PREFIX/relative/path (e.g. /workspace)")
    p.add_argument("--no-source-marks", action="store_true", help="no '# agent: NAME' line on non-user changes")
    p.add_argument("--no-agent-prompts", action="store_true", help="leave out prompts typed into CLI agents")


def config_from(args: argparse.Namespace) -> DatasetConfig:
    for name in ("max_tokens_per_conversation", "max_tokens_per_message", "max_output_tokens", "viewport_radius"):
        if getattr(args, name) < 1:
            raise CrowdcodeError(f"--{name.replace('_', '-')} must be at least 1")
    if not 0 <= args.val_ratio <= 1:
        raise CrowdcodeError("--val-ratio must be between 0 and 1")
    load_tokenizer(args.tokenizer)  # fail early and clearly on a bad tokenizer path
    return DatasetConfig(
        options=Options(
            viewport_radius=args.viewport_radius,
            coalesce_radius=args.coalesce_radius,
            max_output_tokens=args.max_output_tokens,
            mark_sources=not args.no_source_marks,
            path_prefix=args.path_prefix,
            include_agent_prompts=not args.no_agent_prompts,
        ),
        tokenizer=args.tokenizer,
        max_tokens_per_conversation=args.max_tokens_per_conversation,
        max_tokens_per_message=args.max_tokens_per_message,
        min_messages=args.min_conversation_messages,
        val_ratio=args.val_ratio,
        system_prompt=args.system_prompt,
        format=args.format,
        workspaces=getattr(args, "workspaces", False),
        verified_only=getattr(args, "verified_only", True),
    )


def run(args: argparse.Namespace) -> int:
    config = config_from(args)
    stores = [ref for ref in args.sources if ref.endswith(".tar.zst") or Path(ref, "bundles").is_dir()]
    if stores:
        raise CrowdcodeError(
            f"{stores[0]}: a crowdcode upload (bundle or ingest store); build training data from it with "
            "`crowdcode dataset build`"
        )
    sources = resolve(args.sources)
    if not sources:
        raise CrowdcodeError("no sessions found in " + " ".join(args.sources))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    metadata = write_dataset(
        sources,
        config,
        out,
        engine=args.engine,
        workers=args.workers,
        ray_address=args.ray_address,
        progress=not args.no_progress,
    )
    totals = metadata["totals"]
    print(
        f"{totals['sessions']} sessions -> {totals['train_conversations']} training + "
        f"{totals['validation_conversations']} validation conversations in {out} "
        f"({totals['megabytes_per_second']:.1f} MB/s); {totals['unverified_sessions']} do not verify"
        + (" (left out)" if args.verified_only else ""),
        file=sys.stderr,
    )
    return 0


def write_dataset(
    sources, config: DatasetConfig, out: Path, *, engine="local", workers=None, ray_address=None, progress=False
) -> dict:
    """Serialize ``sources`` into ``out``; return what ``metadata.json`` holds."""
    began = time.perf_counter()
    counts = {"train": 0, "validation": 0}
    tokens = {"train": 0, "validation": 0}
    sessions = []
    total_bytes = 0
    cpu_seconds = 0.0
    with contextlib.ExitStack() as stack:
        files = {
            split: stack.enter_context(open(out / f"{'training' if split == 'train' else 'validation'}.jsonl", "wb"))
            for split in counts
        }
        results = engines.run(sources, config, engine=engine, workers=workers, ray_address=ray_address)
        # disable=None: a bar on a terminal only, not in CI logs or pipes.
        bar = tqdm(results, total=len(sources), unit="session", disable=None if progress else True, file=sys.stderr)
        for result in bar:
            files[result.split].writelines(result.lines)
            if result.initial is not None:
                (out / "workspaces").mkdir(exist_ok=True)
                (out / "workspaces" / f"{result.session_id}.json").write_bytes(orjson.dumps(result.initial))
            counts[result.split] += len(result.lines)
            tokens[result.split] += result.tokens
            total_bytes += result.bytes
            cpu_seconds += result.cpu_seconds
            bar.set_postfix(MB=f"{total_bytes / 1e6:.1f}")
            sessions.append(
                {
                    "session": result.session_id,
                    "split": result.split,
                    "conversations": len(result.lines),
                    "tokens": result.tokens,
                    "bytes": result.bytes,
                    "verified": result.verified,
                    "mismatches": result.mismatches,
                    **({"reason": result.reason} if result.reason else {}),
                    **result.stats,
                }
            )
    seconds = time.perf_counter() - began
    metadata = {
        "format": config.format,
        "config": {
            "tokenizer": load_tokenizer(config.tokenizer).name,
            "max_tokens_per_conversation": config.max_tokens_per_conversation,
            "max_tokens_per_message": config.max_tokens_per_message,
            "min_conversation_messages": config.min_messages,
            "val_ratio": config.val_ratio,
            "system_prompt": config.system_prompt,
            **{k: getattr(config.options, k) for k in config.options.__dataclass_fields__},
        },
        "totals": {
            "sessions": len(sessions),
            "unverified_sessions": sum(not s["verified"] for s in sessions),
            "train_conversations": counts["train"],
            "validation_conversations": counts["validation"],
            "train_tokens": tokens["train"],
            "validation_tokens": tokens["validation"],
            "bytes": total_bytes,
            "seconds": round(seconds, 3),
            "megabytes_per_second": total_bytes / 1e6 / seconds if seconds else 0.0,
            "worker_cpu_seconds": round(cpu_seconds, 3),
            "engine": engine,
        },
        "sessions": sessions,
    }
    (out / "metadata.json").write_bytes(orjson.dumps(metadata, option=orjson.OPT_INDENT_2))
    return metadata
