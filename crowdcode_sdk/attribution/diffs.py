"""Unified diffs of file contents, and applying them again (for ``crowdcode replay``).

Lines are split at ``\\n`` only, so a CRLF file's ``\\r`` stays part of its lines and the diff
reproduces the file byte for byte; a last line without a newline is marked as git does
(``\\ No newline at end of file``). difflib makes the diff; applying one is a few lines here
because the standard library has no patcher and the diffs are our own.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator

from ..errors import CrowdcodeError
from ..positions import utf16_len
from ..schema import TextChange

NO_NEWLINE = "\\ No newline at end of file"
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


class PatchError(CrowdcodeError):
    """A diff does not apply to the text it is said to change."""


def split_lines(text: str) -> list[str]:
    """Lines with their ``\\n``; the last one may lack it."""
    lines = text.split("\n")
    result = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        result.append(lines[-1])
    return result


def unified_diff(before: str, after: str, name: str, *, created: bool = False, deleted: bool = False) -> str | None:
    """A unified diff (context 3) from ``before`` to ``after``; ``None`` when they are equal."""
    if before == after:
        return None
    old = "/dev/null" if created else f"a/{name}"
    new = "/dev/null" if deleted else f"b/{name}"
    out: list[str] = []
    for line in difflib.unified_diff(split_lines(before), split_lines(after), old, new, n=3):
        if line.endswith("\n"):
            out.append(line)
        else:
            out.append(line + "\n" + NO_NEWLINE + "\n")
    return "".join(out)


def apply_diff(before: str, diff: str) -> str:
    """Apply a diff made by :func:`unified_diff` to ``before``; raises :class:`PatchError` when its
    context does not match."""
    source = split_lines(before)
    result: list[str] = []
    position = 0
    lines = diff.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    index = 0
    while index < len(lines) and not lines[index].startswith("@@"):
        index += 1
    while index < len(lines):
        match = _HUNK.match(lines[index])
        if not match:
            raise PatchError(f"malformed hunk header {lines[index]!r}")
        start = int(match.group(1))
        count = int(match.group(2)) if match.group(2) is not None else 1
        start = start - 1 if count > 0 else start
        if start < position or start > len(source):
            raise PatchError(f"hunk at line {start + 1} out of order")
        result.extend(source[position:start])
        position = start
        index += 1
        while index < len(lines) and not lines[index].startswith("@@"):
            line = lines[index]
            no_newline = index + 1 < len(lines) and lines[index + 1] == NO_NEWLINE
            body = line[1:] + ("" if no_newline else "\n")
            tag = line[:1]
            if tag in (" ", "-"):
                if position >= len(source) or source[position] != body:
                    raise PatchError(f"context mismatch at line {position + 1}")
                position += 1
                if tag == " ":
                    result.append(body)
            elif tag == "+":
                result.append(body)
            else:
                raise PatchError(f"unexpected diff line {line!r}")
            index += 2 if no_newline else 1
    result.extend(source[position:])
    return "".join(result)


def diff_lines(diff: str) -> Iterator[tuple[int, int, int | None, int | None]]:
    """Each line of a hunk of ``diff``: its start and end offsets in ``diff`` (the tag left out),
    and which line (0-based) it is of the text before (context and removed lines) and of the text
    after (context and added lines)."""
    old = new = -1  # before the first hunk: the file names
    offset = 0
    for line in diff.split("\n"):
        start, offset = offset, offset + len(line) + 1
        match = _HUNK.match(line)
        if match:
            old = int(match.group(1)) - (0 if match.group(2) == "0" else 1)
            new = int(match.group(3)) - (0 if match.group(4) == "0" else 1)
        elif old >= 0 and line[:1] in (" ", "-", "+"):
            tag = line[:1]
            yield start + 1, start + len(line), old if tag != "+" else None, new if tag != "-" else None
            old += tag != "+"
            new += tag != "-"


def minimal_change(before: str, after: str) -> TextChange:
    """One edit (UTF-16 units) that turns ``before`` into ``after``: the span between their common
    prefix and suffix."""
    limit = min(len(before), len(after))
    prefix = 0
    while prefix < limit and before[prefix] == after[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and before[len(before) - 1 - suffix] == after[len(after) - 1 - suffix]:
        suffix += 1
    removed = before[prefix : len(before) - suffix]
    return TextChange(
        range_offset=utf16_len(before[:prefix]),
        range_length=utf16_len(removed),
        text=after[prefix : len(after) - suffix],
    )
