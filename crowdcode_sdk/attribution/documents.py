"""An editor's buffers, as the workspace's owner in another session sees them.

Only one live session decides a workspace's changes on disk (:mod:`.ownership`); the buffers that
explain a user's save live in whichever editor holds the file. Each editor engine publishes the
files it holds (``documents`` in its registry entry) and answers the owner's ``explain`` request
on its control socket: given the disk's new text, it says whether its buffer (some prefix of its
buffered edits, see :mod:`.pending`) wrote it — and then records the ``file_save`` in its own
timeline — or saved earlier text that someone changed since, or wants a moment for edits still
on their way. The owner records the ``file_change`` of whatever no editor explains.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..registry import request

ASK_TIMEOUT_S = 2.0
"""An editor answers from memory; one that does not answer in this long is treated as gone."""
ANSWER_WAIT_S = ASK_TIMEOUT_S * 0.75
"""How long an editor's control thread waits for its engine's worker to answer: it says it is
busy before the owner gives up on it, and the control thread (which also serves panics) is
not held longer."""


@dataclass(frozen=True)
class Answer:
    """An editor's verdict on the disk's new text of a file it holds."""

    saved: bool = False
    """Its buffer explains the text: the editor recorded the user's ``file_save``."""
    before: str | None = None
    """It saved this text (recorded as its ``file_save``), which someone else changed since."""
    wait: bool = False
    """Its edits or save hint may still be on their way: ask again in a moment."""
    session: str | None = None
    """The session that answered, when not the owner's own (its journal holds the save)."""

    @property
    def decided(self) -> bool:
        return self.saved or self.before is not None or self.wait

    def to_wire(self) -> dict[str, Any]:
        return {"saved": self.saved, "before": self.before, "wait": self.wait}


def editors_holding(entries: list[dict[str, Any]], path: Path, own: str) -> list[dict[str, Any]]:
    """The other live sessions whose editor holds ``path``."""
    name = str(path)
    return [e for e in entries if e.get("sessionId") != own and name in (e.get("documents") or ())]


@dataclass(frozen=True)
class Question:
    """The owner's question about a file's new content on disk."""

    path: Path
    text: str | None
    """The disk's text; ``None`` for a file too large to read as text (its bytes' hash decides)."""
    sha: str | None
    may_wait: bool = False
    """The owner can decide later: an editor whose edits or save hint may be on their way says so."""
    unchanged: bool = False
    """The content did not change (a save of an unmodified buffer, with a save hint)."""
    settled: bool = False
    """The change already waited once: edits that reached the editor after the write are a reload."""
    written_at: int = 0
    """When the file was written (epoch ms): edits received later did not write it."""

    def to_wire(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "text": self.text,
            "sha": self.sha,
            "mayWait": self.may_wait,
            "unchanged": self.unchanged,
            "settled": self.settled,
            "writtenAt": self.written_at,
        }

    @classmethod
    def from_wire(cls, message: dict[str, Any]) -> Question:
        text = message.get("text")
        return cls(
            Path(message["path"]),
            text if isinstance(text, str) else None,
            message.get("sha"),
            bool(message.get("mayWait")),
            bool(message.get("unchanged")),
            bool(message.get("settled")),
            int(message.get("writtenAt") or 0),
        )


def ask(entry: dict[str, Any], question: Question) -> Answer | None:
    """Ask one editor session; ``None`` when it does not hold the file (any more) or is gone."""
    try:
        reply = request(entry, "explain", timeout=ASK_TIMEOUT_S, **question.to_wire())
    except (OSError, ValueError, KeyError):  # ended meanwhile (its socket is gone or closed)
        return None
    if not reply.get("ok") or not reply.get("known"):
        return None
    before = reply.get("before")
    return Answer(
        bool(reply.get("saved")),
        before if isinstance(before, str) else None,
        bool(reply.get("wait")),
        entry.get("sessionId"),
    )


__all__ = ["ANSWER_WAIT_S", "ASK_TIMEOUT_S", "Answer", "Question", "ask", "editors_holding"]
