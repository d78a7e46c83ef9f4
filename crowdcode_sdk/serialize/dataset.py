"""Conversations and the files trainers read: NeMo SFT JSONL (or chat JSONL) and metadata.

Steps become conversations under token limits, as the reference does: the builder closes a
conversation when the next step would pass ``max_tokens_per_conversation`` (and shows files again
at the start of the next), and a conversation is kept only with at least ``min_messages``
messages. User messages (observations) longer than ``max_tokens_per_message``
are cut with a ``[truncated]`` marker; assistant messages (commands) never are, since a cut
command would not run. Whole sessions go to training or validation by a hash of their contributor
(or, without one, of their id), so the split is deterministic and never leaks a person's work
across sets.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from .conversation import Options, Step, build_steps
from .next_edit import NextEdits
from .sources import SessionSource
from .tally import Tally
from .tokens import load_tokenizer

DEFAULT_SYSTEM_PROMPT = """\
You are a software engineer working in a shell. Each of your turns is one bash command in a \
fenced block; the user answers with its output in <stdout>. You read files with `cat -n FILE` \
(line numbers, a tab, the line) and look at a viewport of 2r+1 lines with \
`cat -n FILE | sed -n 'START,ENDp'`. You edit files only with GNU sed, one line block per command: \
`sed -i 'Ni\\` (insert before line N), `sed -i '$a\\` (append), `sed -i 'S,Ec\\` (replace lines S-E), \
each followed by the new lines (all but the last ending in a backslash), or `sed -i 'S,Ed'` \
(delete), chained with `&& cat -n FILE | sed -n 'START,ENDp'`. Line numbers are 1-based. A first \
line `# agent: NAME` or `# git` marks a change that a coding agent or another program made. A \
command's output ends with `[exit code N]` when its exit status is known."""


@dataclass(frozen=True)
class DatasetConfig:
    options: Options = field(default_factory=Options)
    tokenizer: str | None = None
    max_tokens_per_conversation: int = 8192
    max_tokens_per_message: int = 2048
    min_messages: int = 5
    val_ratio: float = 0.1
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    format: str = "nemo"  # "nemo" | "chat"
    workspaces: bool = False
    """Also return each session's initial workspace (written to ``workspaces/<session>.json``)."""
    next_edits: bool = False
    """Also make next-edit prediction examples (:mod:`.next_edit`)."""
    verified_only: bool = False
    """Leave out sessions that ``crowdcode verify`` rejects (their file commands may not rebuild
    the files); they are still listed in ``metadata.json``."""


Line = bytes
"""One encoded JSONL line (a name, since :class:`SessionResult` has a field called ``bytes``)."""


@dataclass
class SessionResult:
    session_id: str
    split: str
    lines: list[bytes]
    """The session's conversations, encoded as JSONL lines (in the worker, so that only bytes
    travel back to the writer)."""
    tokens: int
    bytes: int
    seconds: float
    cpu_seconds: float
    stats: dict[str, int]
    verified: bool = False
    mismatches: int = 0
    reason: str = ""
    """Why the session does not verify or could not be read (empty when it verifies)."""
    error: bool = False
    """The session could not be read at all (``reason`` says why)."""
    sessions: list[str] = field(default_factory=list)
    """Every session of the timeline (the session itself, or the sessions merged into it)."""
    next_edits: list[Line] = field(default_factory=list)
    """Next-edit prediction examples (:mod:`.next_edit`) as JSONL lines, when asked for."""
    next_edits_unconfirmed: int = 0
    tally: dict[str, Any] = field(default_factory=dict)
    """What the session holds (:class:`.tally.Tally`): events per kind, edit sources, activity."""
    conversations: list[list[dict[str, Any]]] | None = None
    initial: dict[str, str] | None = None
    steps: list[Step] | None = None


def split_of(session_id: str, val_ratio: float) -> str:
    """``train`` or ``validation``, by the session id's hash: stable across runs and machines."""
    fraction = int.from_bytes(hashlib.sha256(session_id.encode()).digest()[:8], "big") / 2**64
    return "validation" if fraction < val_ratio else "train"


def process(source: SessionSource, config: DatasetConfig, *, keep_steps: bool = False) -> SessionResult:
    """Serialize one session: the unit of work for every engine. ``keep_steps`` also returns the
    steps, messages and initial workspace (for tests and debugging).

    Never raises for what is in the recording: a session that cannot be read (a garbage line,
    invalid UTF-8, a field of the wrong type) comes back empty with ``error`` saying why, so one
    bad session never stops a dataset, on any engine."""
    began = time.perf_counter()
    cpu = time.process_time()
    split = split_of(source.contributor or source.session_id, config.val_ratio)
    try:
        return _process(source, config, split, began, cpu, keep_steps=keep_steps)
    except Exception as exc:  # any failure is this session's, reported, never the run's
        return SessionResult(
            session_id=source.session_id,
            split=split,
            lines=[],
            tokens=0,
            bytes=_size(source),
            seconds=time.perf_counter() - began,
            cpu_seconds=time.process_time() - cpu,
            stats={},
            reason=f"unreadable: {type(exc).__name__}: {str(exc)[:200]}",
            error=True,
            sessions=source.session_ids,
        )


def _size(source: SessionSource) -> int:
    try:
        return source.size()
    except OSError:
        return 0


def _process(
    source: SessionSource, config: DatasetConfig, split: str, began: float, cpu: float, *, keep_steps: bool
) -> SessionResult:
    tokenizer = load_tokenizer(config.tokenizer)
    events, loader = source.open(strict=True)
    checker = source.verifier(loader)
    tally = Tally()
    edits = NextEdits(loader) if config.next_edits else None
    if edits is not None:
        events = edits.watching(events)
    budget = config.max_tokens_per_conversation - tokenizer.count(config.system_prompt)
    builder = build_steps(
        checker.passing(tally.counting(events)),
        config.options,
        tokenizer,
        loader,
        source.casts(),
        budget=budget,
        message_limit=config.max_tokens_per_message,
        replay=checker,
    )
    verdict = checker.verdict
    groups = chunk(builder.steps, config)
    if config.verified_only and not verdict.ok:
        groups = []
    conversations = [messages(group) for group in groups]
    return SessionResult(
        session_id=source.session_id,
        split=split,
        lines=[
            orjson.dumps(record(c, config, provenance(source, group, verdict.ok))) + b"\n"
            for c, group in zip(conversations, groups, strict=True)
        ],
        tokens=sum(step.tokens for group in groups for step in group),
        bytes=source.size(),
        seconds=time.perf_counter() - began,
        cpu_seconds=time.process_time() - cpu,
        stats=asdict(builder.stats),
        verified=verdict.ok,
        mismatches=verdict.mismatch_count,
        reason="" if verdict.ok else verdict.summary(),
        sessions=source.session_ids,
        tally=tally.to_json(),
        next_edits=[
            orjson.dumps({**example, "provenance": _origin(source, example, verdict.ok)}) + b"\n"
            for example in (edits.examples if edits is not None and verdict.ok else [])
        ],
        next_edits_unconfirmed=edits.unconfirmed if edits is not None else 0,
        conversations=conversations if keep_steps else None,
        initial=builder.initial if keep_steps or config.workspaces else None,
        steps=builder.steps if keep_steps else None,
    )


def chunk(steps: list[Step], config: DatasetConfig) -> list[list[Step]]:
    """The builder's conversations as groups of steps, those with too few messages left out."""
    kept: list[list[Step]] = []
    for _, run in itertools.groupby(steps, key=lambda step: step.conversation):
        group = list(run)
        if 2 * len(group) >= config.min_messages:  # every step has both roles
            kept.append(group)
    return kept


def messages(group: list[Step]) -> list[dict[str, Any]]:
    """A conversation's messages (``{"from": "Assistant"|"User", "value": …}``). Assistant turns
    also say who made them (``source``) and whether to learn from them (``train``: only the
    user's own actions; an agent's, git's or another program's changes are context)."""
    out: list[dict[str, Any]] = []
    for step in group:
        out.append(
            {"from": "Assistant", "value": step.assistant, "source": step.source, "train": step.source == "user"}
        )
        out.append({"from": "User", "value": step.user})
    return out


def _origin(source: SessionSource, example: dict[str, Any], verified: bool) -> dict[str, Any]:
    sequence = example.pop("sequence")
    return _where(source, sequence, sequence, verified)


def provenance(source: SessionSource, group: list[Step], verified: bool) -> dict[str, Any]:
    """Where an example comes from, so that it can be traced, filtered or deleted."""
    return _where(source, min(step.sequence for step in group), max(step.sequence for step in group), verified)


def _where(source: SessionSource, first: int, last: int, verified: bool) -> dict[str, Any]:
    """Provenance: ``session`` names the timeline (its first session), ``sessions`` every session
    in it; sequences count the timeline's events (a session's own, unless sessions were merged)."""
    return {
        "contributor": source.contributor,
        "session": source.session_id,
        "sessions": source.session_ids,
        "first_sequence": first,
        "last_sequence": last,
        "verified": verified,
    }


def record(conversation: list[dict[str, Any]], config: DatasetConfig, origin: dict[str, Any]) -> dict[str, Any]:
    """One JSONL line in the chosen format, with its provenance."""
    if config.format == "chat":
        role = {"Assistant": "assistant", "User": "user"}
        chat: list[dict[str, Any]] = [{"role": "system", "content": config.system_prompt}]
        for m in conversation:
            turn = {"role": role[m["from"]], "content": m["value"]}
            if "source" in m:
                turn |= {"source": m["source"], "train": m["train"]}
            chat.append(turn)
        return {"messages": chat, "provenance": origin}
    return {"mask": "User", "system": config.system_prompt, "conversations": conversation, "provenance": origin}
