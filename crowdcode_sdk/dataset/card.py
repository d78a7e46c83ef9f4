"""The dataset's account of itself: ``report.json``, the ``README.md`` dataset card and its plots.

Plots are drawn with matplotlib (the Agg backend: no display needed) as PNG under ``plots/``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from ..serialize.dataset import DatasetConfig, SessionResult
from ..serialize.tokens import load_tokenizer
from .ingest import Quarantined, Staged
from .outputs import SPLITS, Deleted, Written

HOUR_MS = 3_600_000


def report(
    results: list[SessionResult],
    quarantined: list[Quarantined],
    written: Written,
    *,
    staged: Staged,
    contributors: dict[str, str],
    reused: int,
    merged: int,
    shard_rows: int,
    seconds: float,
    config: DatasetConfig,
    engine: str,
) -> dict[str, Any]:
    kinds: Counter[str] = Counter()
    sources: Counter[str] = Counter()
    turns: Counter[str] = Counter()
    tokens: Counter[str] = Counter()
    people: dict[str, set[str]] = {"train": set(), "validation": set()}
    active_ms = 0
    for result in results:
        kinds.update(result.tally.get("kinds", {}))
        sources.update(result.tally.get("edit_sources", {}))
        active_ms += result.tally.get("active_ms", 0)
        tokens[result.split] += result.tokens
        people[result.split].add(contributors.get(result.session_id, result.session_id))
        for line in result.lines:
            record = orjson.loads(line)
            for message in record.get("conversations") or record.get("messages") or []:
                if "source" in message:
                    turns[message["source"]] += 1
    reasons = Counter(_reason_kind(q.reason) for q in quarantined)
    read_bytes = staged.bytes_read
    return {
        "summary": {
            "sessions": sum(len(r.sessions) or 1 for r in results),
            "timelines": len(results),
            "sessions_merged": merged,
            "quarantined": len(quarantined),
            "duplicates": staged.duplicates,
            "bundles_new": staged.bundles_new,
            "bundles_known": staged.bundles_known,
            "sessions_reused": reused,
            "examples": dict(written.examples),
            "parquet_shards": dict(written.shards),
            "next_edit_examples": dict(written.next_edits),
            "next_edit_unconfirmed": sum(r.next_edits_unconfirmed for r in results),
            "tokens": dict(tokens),
            "contributors": {split: len(names) for split, names in people.items()},
            "contributors_in_both_splits": len(people["train"] & people["validation"]),
            "hours_of_activity": round(active_ms / HOUR_MS, 3),
            "bytes_read": read_bytes,
            "seconds": round(seconds, 3),
            "engine": engine,
        },
        "edit_sources": dict(sorted(sources.items())),
        "assistant_turns_by_source": dict(sorted(turns.items())),
        "events_per_kind": dict(sorted(kinds.items(), key=lambda kv: -kv[1])),
        "quarantine_reasons": dict(sorted(reasons.items())),
        "quarantined": [{"what": q.what, "reason": q.reason} for q in quarantined],
        "serializer": {
            "format": config.format,
            "tokenizer": load_tokenizer(config.tokenizer).name,
            "max_tokens_per_conversation": config.max_tokens_per_conversation,
            "min_conversation_messages": config.min_messages,
            "val_ratio": config.val_ratio,
            "parquet_shard_rows": shard_rows,
        },
        "sessions": [
            {
                "session": r.session_id,
                "sessions": r.sessions,
                "contributor": contributors.get(r.session_id, ""),
                "split": r.split,
                "examples": len(r.lines),
                "tokens": r.tokens,
                "active_ms": r.tally.get("active_ms", 0),
                "bytes": r.bytes,
                **r.stats,
            }
            for r in results
        ],
    }


def _reason_kind(reason: str) -> str:
    """A quarantine reason without its particulars (file, sequence), for counting."""
    return reason.split(":", 1)[0].strip() or reason


def summary_line(report: dict[str, Any], out: str) -> str:
    s = report["summary"]
    merged = f" ({s['sessions_merged']} read into an overlapping one's timeline)" if s["sessions_merged"] else ""
    # A short recording (open a file, type a line, save) yields no example at the default
    # --min-conversation-messages: said here, it does not look lost.
    empty = sum(1 for entry in report["sessions"] if not entry["examples"])
    short = (
        f" ({empty} timeline{'s' if empty != 1 else ''} shorter than --min-conversation-messages "
        f"{report['serializer']['min_conversation_messages']} gave none)"
        if empty
        else ""
    )
    return (
        f"{s['sessions']} sessions{merged} -> {s['examples']['train']} training + {s['examples']['validation']} "
        f"validation examples{short} in {out}; {s['quarantined']} quarantined, {s['duplicates']} duplicates, "
        f"{s['sessions_reused']} reused from the last build, {s['hours_of_activity']:.2f} h of activity"
    )


def write(out: Path, data: dict[str, Any], results: list[SessionResult], *, plots: bool) -> None:
    drawn = _plots(out / "plots", data, results) if plots else []
    (out / "README.md").write_text(_card(data, drawn))
    # Written last: a report.json means the files beside it are complete.
    (out / "report.json").write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))


def after_deletion(out: Path, deleted: Deleted) -> dict[str, Any] | None:
    """Bring ``report.json`` and the dataset card in ``out`` up to date with a revocation: the
    counts of examples, next-edit examples, shards, sessions, tokens, contributors and hours
    without the revoked sessions, whose entries go (plots stay as drawn at the build)."""
    path = out / "report.json"
    if not path.is_file():
        return None
    data = orjson.loads(path.read_bytes())
    summary = data["summary"]
    entries = data["sessions"]
    kept = [e for e in entries if not ({e["contributor"], e["session"], *e.get("sessions", [])} & deleted.wanted)]
    data["sessions"] = kept
    data.setdefault("deleted", {"train": 0, "validation": 0})
    for split in SPLITS:
        data["deleted"][split] = data["deleted"].get(split, 0) + deleted.examples[split]
        summary["examples"][split] -= deleted.examples[split]
        summary["next_edit_examples"][split] -= deleted.next_edits[split]
        summary["parquet_shards"][split] = len(list((out / "data").glob(f"{split}-*.parquet")))
        summary["tokens"][split] = sum(e["tokens"] for e in kept if e["split"] == split)
        summary["contributors"][split] = len({e["contributor"] for e in kept if e["split"] == split})
    summary["sessions"] = sum(len(e.get("sessions") or [e["session"]]) for e in kept)
    summary["timelines"] = len(kept)
    summary["hours_of_activity"] = round(sum(e.get("active_ms", 0) for e in kept) / HOUR_MS, 3)
    drawn = sorted(p.name for p in (out / "plots").glob("*.png"))
    (out / "README.md").write_text(_card(data, drawn))
    path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
    return data


def _plots(directory: Path, data: dict[str, Any], results: list[SessionResult]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    minutes = [r.tally.get("active_ms", 0) / 60_000 for r in results]
    figures = {
        "session_minutes.png": ("Active minutes per session", lambda ax: ax.hist(minutes or [0], bins=20)),
        "events_per_kind.png": ("Events per kind", lambda ax: _bars(ax, data["events_per_kind"])),
        "edit_sources.png": ("Edits by source", lambda ax: _bars(ax, data["edit_sources"])),
    }
    for name, (title, draw) in figures.items():
        figure, ax = plt.subplots(figsize=(7, 4))
        draw(ax)
        ax.set_title(title)
        figure.tight_layout()
        figure.savefig(directory / name, metadata={"Software": None})  # no version: same bytes every run
        plt.close(figure)
    return list(figures)


def _bars(ax: Any, counts: dict[str, int]) -> None:
    names = list(counts)[:20]
    ax.barh(names or ["(none)"], [counts[n] for n in names] or [0])
    ax.invert_yaxis()


def _cell(value: Any) -> str:
    """A count per split as a reader writes it (``train 3, validation 1``), not a Python dict."""
    if isinstance(value, dict):
        return ", ".join(f"{key} {count}" for key, count in value.items())
    return str(value)


def _card(data: dict[str, Any], plots: list[str]) -> str:
    s = data["summary"]
    table = "\n".join(f"| {k} | {_cell(v)} |" for k, v in s.items())
    kinds = "\n".join(f"| {k} | {v} |" for k, v in data["events_per_kind"].items())
    sources = "\n".join(f"| {k} | {v} |" for k, v in data["edit_sources"].items())
    turns = "\n".join(f"| {k} | {v} |" for k, v in data["assistant_turns_by_source"].items())
    reasons = "\n".join(f"| {k} | {v} |" for k, v in data["quarantine_reasons"].items()) or "| (none) | 0 |"
    images = "\n".join(f"![{p}](plots/{p})" for p in plots)
    return f"""---
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-*.parquet
  - split: validation
    path: data/validation-*.parquet
---

# crowdcode dataset

Recordings of people writing software, serialized into action-observation conversations by
`crowdcode dataset build` (see docs/dataset.md in crowdcode for the schema and how it is made).
Every session in it passed `crowdcode verify`; sessions are split by contributor, so no
contributor is in both splits.

## Counts

| what | value |
| --- | --- |
{table}

## Events per kind

| kind | events |
| --- | --- |
{kinds}

## Sources of edits

| source | edits |
| --- | --- |
{sources}

## Assistant turns by source

Turns whose `source` is not `user` (an agent's, git's or another program's changes, and prompts
typed into agents) have `train: false`: mask them from the loss.

| source | turns |
| --- | --- |
{turns}

## Quarantine reasons

| reason | count |
| --- | --- |
{reasons}

## Plots

{images}

## Files

- `training.jsonl`, `validation.jsonl`: {data["serializer"]["format"]} JSONL, one conversation a line,
  with `provenance` (contributor pseudonym, session, sessions, first/last sequence, verified).
- `data/*.parquet`: the same examples (columns id, contributor, session, sessions, first_sequence,
  last_sequence, verified, system, messages[role, content, source, train]).
- `next_edit/*.jsonl`: next-edit prediction examples (Zeta's shape: `events`, `input`,
  `output`), each checked by applying its rewrite and comparing with a recorded save.
- `quarantine.jsonl`: what was left out and why.
- `report.json`: these numbers and one entry per session.
"""
