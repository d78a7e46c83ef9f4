"""Next-edit prediction examples, in the shape of Zed's open Zeta dataset.

A user's typing is cut into *bursts*: consecutive edits of one file, close in time and place,
with nothing else done in between. Each burst after the first becomes an example:

* ``events``: the last few bursts before it as unified diffs (``User edited "PATH":`` and a
  fenced ``diff``), the recent-edit history Zeta conditions on;
* ``input``: the excerpt around the burst before it, with ``<|editable_region_start|>``,
  ``<|user_cursor_is_here|>`` (where the first edit of the burst happened) and
  ``<|editable_region_end|>``;
* ``output``: the same excerpt with the editable region rewritten as the user left it.

Only the user's own edits make examples; an agent's, git's or a program's change makes the file
unknown until the editor tells its text again. An example is kept only when the file's text it
ends in is proven by the recording: :func:`apply` puts the predicted region into the text
before the burst, and the result must hash to the ``content.sha256`` of the next save of that
file. Examples no save confirms are counted, not written.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..positions import PositionError, text_sha256
from .buffer import TextBuffer
from .snapshots import SnapshotLoader

REGION_START = "<|editable_region_start|>"
REGION_END = "<|editable_region_end|>"
CURSOR = "<|user_cursor_is_here|>"
GAP_MS = 3000
"""A pause longer than this ends a burst."""
NEAR_LINES = 8
"""An edit further than this from the burst's lines starts a new one."""
CONTEXT_LINES = 1
"""Unchanged lines on each side of the change inside the editable region."""
EXCERPT_LINES = 10
"""Lines of the file shown on each side of the editable region."""
HISTORY = 3
"""Bursts shown as recent edits."""
QUIET = frozenset({"selection", "cursor", "scroll", "viewport", "focus"})
"""Actions that do not end a burst (moving around while typing)."""


@dataclass
class _Burst:
    path: str
    before: str
    cursor: int
    """Code point index of the first edit (the cursor when the burst began)."""
    first_line: int
    last_line: int
    last_ms: int
    sequence: int


@dataclass
class NextEdits:
    """Fed wire events in order (:meth:`watching`); collects confirmed examples."""

    load_snapshot: SnapshotLoader | None = None
    examples: list[dict[str, Any]] = field(default_factory=list)
    unconfirmed: int = 0
    """Examples left out because no save proved the text they end in."""
    _files: dict[str, TextBuffer] = field(default_factory=dict)
    _burst: _Burst | None = None
    _history: list[str] = field(default_factory=list)
    _pending: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def watching(self, events: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """``events`` unchanged, each looked at as it goes by."""
        for event in events:
            try:
                self._feed(event)
            except (KeyError, TypeError, AttributeError, PositionError):
                self._files.clear()  # a malformed event: trust no text from here on
                self._burst = None
            yield event
        self._close()
        self.unconfirmed += sum(map(len, self._pending.values()))
        self._pending.clear()

    def _feed(self, event: dict[str, Any]) -> None:
        at = event.get("timestamp", 0)
        if event.get("type") == "workspace_snapshot" and self.load_snapshot is not None:
            for path, text in (self.load_snapshot(event["snapshotId"]) or {}).items():
                self._files.setdefault(path, TextBuffer(text))
            return
        if event.get("type") != "action":
            return
        action = event["action"]
        kind = action.get("kind")
        path = action.get("file")
        if kind == "edit":
            if (action.get("source") or "user") != "user":
                self._close()
                self._forget(path)
            else:
                self._edit(path, action["diff"], at, event["sequence"])
        elif kind == "file_open":
            if action.get("text") is not None and path not in self._files:
                self._files[path] = TextBuffer(action["text"])
        elif kind == "file_save":
            self._close()
            self._save(path, (action.get("content") or {}).get("sha256"))
        elif kind == "file_change":
            self._close()
            self._forget(path)
        elif kind not in QUIET:
            self._close()

    def _forget(self, path: str | None) -> None:
        if path is not None:
            self._files.pop(path, None)
            self.unconfirmed += len(self._pending.pop(path, []))

    def _edit(self, path: str, diff: dict[str, Any], at: int, sequence: int) -> None:
        doc = self._files.get(path)
        if doc is None:
            return
        start = doc.index(diff["rangeOffset"])
        line = doc.text.count("\n", 0, start)
        burst = self._burst
        if burst is not None and (
            burst.path != path
            or at - burst.last_ms > GAP_MS
            or not burst.first_line - NEAR_LINES <= line <= burst.last_line + NEAR_LINES
        ):
            self._close()
            burst = None
        if burst is None:
            burst = self._burst = _Burst(path, doc.text, start, line, line, at, sequence)
        first, last = doc.replace(diff["rangeOffset"], diff["rangeLength"], diff["text"])
        burst.first_line = min(burst.first_line, first)
        burst.last_line = max(burst.last_line, last + diff["text"].count("\n"))
        burst.last_ms = at
        burst.sequence = sequence

    def _close(self) -> None:
        burst, self._burst = self._burst, None
        if burst is None or burst.path not in self._files:
            return
        after = self._files[burst.path].text
        if after == burst.before:
            return
        if self._history:
            example = make_example(burst.path, burst.before, after, burst.cursor, self._history[-HISTORY:])
            example["sequence"] = burst.sequence
            self._pending.setdefault(burst.path, []).append(example)
        self._history.append(history_entry(burst.path, burst.before, after))

    def _save(self, path: str, sha: str | None) -> None:
        pending = self._pending.pop(path, [])
        doc = self._files.get(path)
        if doc is None or sha is None or text_sha256(doc.text) != sha:
            self.unconfirmed += len(pending)
            return
        for example in pending:
            if text_sha256(apply(example)) == example.pop("_after_sha"):
                example.pop("_before")
                self.examples.append(example)
            else:
                self.unconfirmed += 1
        # The save proves the last burst's end state; each earlier one's is a step of the same
        # replay from the recorded open text, so the save proves them all.


def history_entry(path: str, before: str, after: str) -> str:
    """The burst as a unified diff of its changed lines (with one line of context), numbered as
    in the whole file; only the region is diffed, so its cost does not grow with the file."""
    start, end, grown = _region(before, after)
    offset = before.count("\n", 0, start)
    diff = difflib.unified_diff(
        before[start:end].splitlines(keepends=True),
        after[start : end + grown].splitlines(keepends=True),
        fromfile=path,
        tofile=path,
        n=1,
    )
    body = "".join(_renumber(line, offset) if line.startswith("@@") else _ended(line) for line in diff)
    return f'User edited "{path}":\n```diff\n{body}```\n'


def _ended(line: str) -> str:
    return line if line.endswith("\n") else line + "\n"


_HUNK = re.compile(r"^@@ -(\d+)((?:,\d+)?) \+(\d+)((?:,\d+)?) @@")


def _renumber(header: str, offset: int) -> str:
    def shift(match: re.Match[str]) -> str:
        old, new = int(match[1]), int(match[3])
        return f"@@ -{old + offset if old else offset}{match[2]} +{new + offset if new else offset}{match[4]} @@"

    return _ended(_HUNK.sub(shift, header))


def _common_prefix(a: str, b: str) -> int:
    """Length of the common prefix, by bisection over slice comparisons (which run in C)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _common_suffix(a: str, b: str, limit: int) -> int:
    low, high = 0, limit
    while low < high:
        middle = (low + high + 1) // 2
        if a[len(a) - middle :] == b[len(b) - middle :]:
            low = middle
        else:
            high = middle - 1
    return low


def _region(before: str, after: str) -> tuple[int, int, int]:
    """The editable region: ``before[start:end]`` became ``after[start:end + grown]``, whole
    lines with :data:`CONTEXT_LINES` unchanged lines around the change."""
    prefix = _common_prefix(before, after)
    suffix = _common_suffix(before, after, min(len(before), len(after)) - prefix)
    start = before.rfind("\n", 0, prefix) + 1
    for _ in range(CONTEXT_LINES):
        start = before.rfind("\n", 0, max(start - 1, 0)) + 1 if start else 0
    end = len(before) - suffix
    for _ in range(CONTEXT_LINES + 1):
        found = before.find("\n", end)
        end = len(before) if found < 0 else found + 1
    return start, end, len(after) - len(before)


def _lines_around(text: str, start: int, end: int) -> tuple[int, int]:
    """Bounds of the excerpt: :data:`EXCERPT_LINES` lines on each side of ``text[start:end]``."""
    low = start
    for _ in range(EXCERPT_LINES):
        if low == 0:
            break
        low = text.rfind("\n", 0, low - 1) + 1
    high = end
    for _ in range(EXCERPT_LINES):
        found = text.find("\n", high)
        if found < 0:
            high = len(text)
            break
        high = found + 1
    return low, high


def make_example(path: str, before: str, after: str, cursor: int, history: list[str]) -> dict[str, Any]:
    start, end, grown = _region(before, after)
    low, high = _lines_around(before, start, end)
    cursor = min(max(cursor, start), end)
    marked = before[start:cursor] + CURSOR + before[cursor:end]
    excerpt = f"{before[low:start]}{REGION_START}\n{marked}{REGION_END}\n{before[end:high]}"
    rewritten = f"{before[low:start]}{REGION_START}\n{after[start : end + grown]}{REGION_END}\n{before[end:high]}"
    return {
        "events": "".join(history),
        "input": f"```{path}\n{excerpt}```",
        "output": f"```{path}\n{rewritten}```",
        "path": path,
        "region": [start, end],
        "_before": before,
        "_after_sha": text_sha256(after),
    }


def apply(example: dict[str, Any]) -> str:
    """The file's text after the predicted rewrite: the output's editable region put in place of
    the region in the text before."""
    output = example["output"]
    region = output[output.index(REGION_START) + len(REGION_START) + 1 : output.index(REGION_END)]
    start, end = example["region"]
    before: str = example["_before"]
    return before[:start] + region + before[end:]
