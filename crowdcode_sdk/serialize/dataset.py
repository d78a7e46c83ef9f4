"""Conversations and the files trainers read: NeMo SFT JSONL (or chat JSONL) and metadata.

Steps become conversations under token limits, as the reference does: the builder closes a
conversation when the next step would pass ``max_tokens_per_conversation`` (and shows files again
at the start of the next), and a conversation is kept only with at least ``min_messages``
messages. User messages (observations) longer than ``max_tokens_per_message``
are cut with a ``[truncated]`` marker; assistant messages (commands) never are, since a cut
command would not run. Whole sessions go to training or validation by a hash of their id, so the
split is deterministic and never leaks a session across sets.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from .conversation import Options, Step, build_steps
from .sources import SessionSource
from .tokens import load_tokenizer

DEFAULT_SYSTEM_PROMPT = """\
You are a software engineer working in a shell. Each of your turns is one bash command in a \
fenced block; the user answers with its output in <stdout>. You read files with `cat -n FILE` \
(line numbers, a tab, the line) and look at a viewport of 2r+1 lines with \
`cat -n FILE | sed -n 'START,ENDp'`. You edit files only with GNU sed, one line block per command: \
`sed -i 'Ni\\` (insert before line N), `sed -i '$a\\` (append), `sed -i 'S,Ec\\` (replace lines S-E), \
each followed by the new lines (all but the last ending in a backslash), or `sed -i 'S,Ed'` \
(delete), chained with `&& cat -n FILE | sed -n 'START,ENDp'`. Line numbers are 1-based. A first \
line `# agent: NAME` or `# git` marks a change that a coding agent or another program made."""


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
    verified_only: bool = False
    """Leave out sessions that ``crowdcode verify`` rejects (their file commands may not rebuild
    the files); they are still listed in ``metadata.json``."""


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
    conversations: list[list[dict[str, str]]] | None = None
    initial: dict[str, str] | None = None
    steps: list[Step] | None = None


def split_of(session_id: str, val_ratio: float) -> str:
    """``train`` or ``validation``, by the session id's hash: stable across runs and machines."""
    fraction = int.from_bytes(hashlib.sha256(session_id.encode()).digest()[:8], "big") / 2**64
    return "validation" if fraction < val_ratio else "train"


def process(source: SessionSource, config: DatasetConfig, *, keep_steps: bool = False) -> SessionResult:
    """Serialize one session: the unit of work for every engine. ``keep_steps`` also returns the
    steps, messages and initial workspace (for tests and debugging)."""
    began = time.perf_counter()
    cpu = time.process_time()
    tokenizer = load_tokenizer(config.tokenizer)
    events, loader = source.open()
    checker = source.verifier(loader)
    budget = config.max_tokens_per_conversation - tokenizer.count(config.system_prompt)
    builder = build_steps(
        checker.passing(events),
        config.options,
        tokenizer,
        loader,
        source.casts(),
        budget=budget,
        message_limit=config.max_tokens_per_message,
    )
    verdict = checker.verdict
    conversations, tokens = chunk(builder.steps, config)
    if config.verified_only and not verdict.ok:
        conversations, tokens = [], 0
    return SessionResult(
        session_id=source.session_id,
        split=split_of(source.session_id, config.val_ratio),
        lines=[orjson.dumps(record(c, config)) + b"\n" for c in conversations],
        tokens=tokens,
        bytes=source.size(),
        seconds=time.perf_counter() - began,
        cpu_seconds=time.process_time() - cpu,
        stats=asdict(builder.stats),
        verified=verdict.ok,
        mismatches=verdict.mismatch_count,
        conversations=conversations if keep_steps else None,
        initial=builder.initial if keep_steps or config.workspaces else None,
        steps=builder.steps if keep_steps else None,
    )


def chunk(steps: list[Step], config: DatasetConfig) -> tuple[list[list[dict[str, str]]], int]:
    """The builder's conversations as messages (``{"from": "Assistant"|"User", "value": …}``),
    those with too few messages or one role only left out; and their token total."""
    kept: list[list[dict[str, str]]] = []
    total = 0
    for _, run in itertools.groupby(steps, key=lambda step: step.conversation):
        group = list(run)
        messages = []
        for step in group:
            messages.append({"from": "Assistant", "value": step.assistant})
            messages.append({"from": "User", "value": step.user})
        if len(messages) >= config.min_messages:  # every step has both roles
            kept.append(messages)
            total += sum(step.tokens for step in group)
    return kept, total


def record(conversation: list[dict[str, str]], config: DatasetConfig) -> dict[str, Any]:
    """One JSONL line in the chosen format."""
    if config.format == "chat":
        role = {"Assistant": "assistant", "User": "user"}
        messages = [{"role": "system", "content": config.system_prompt}]
        messages += [{"role": role[m["from"]], "content": m["value"]} for m in conversation]
        return {"messages": messages}
    return {"mask": "User", "system": config.system_prompt, "conversations": conversation}
