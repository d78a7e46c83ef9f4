"""Applying the unified diffs of ``file_change`` events (crowd-code 2.0 and ours).

``file_change`` carries only a diff, so the serializer replays it onto the text it tracks. Hunks
must match exactly (no fuzz): a mismatch means the tracked text is not what the recorder saw,
and the caller then stops trusting that file rather than emit wrong edits.
"""

from __future__ import annotations

import re

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


class PatchError(ValueError):
    pass


def apply_unified_diff(text: str, diff: str) -> str:
    """Apply ``diff`` (one file, any header) to ``text``; raise :class:`PatchError` on mismatch."""
    old = split_keepends(text)
    out: list[str] = []
    position = 0  # next old line to copy
    lines = split_keepends(diff)
    i = 0
    while i < len(lines):
        match = _HUNK.match(lines[i])
        i += 1
        if not match:
            continue
        start = int(match[1])
        count = int(match[2]) if match[2] is not None else 1
        begin = start - 1 if count else start  # "-0,0" inserts before line 1
        if begin < position or begin > len(old):
            raise PatchError(f"hunk at line {start} out of order or past the end")
        out.extend(old[position:begin])
        position = begin
        while i < len(lines) and not _HUNK.match(lines[i]):
            line = lines[i]
            tag, body = line[:1], line[1:]
            if line == "\n":  # an empty context line whose leading space was stripped
                tag, body = " ", "\n"
            if tag == "\\":  # "\ No newline at end of file": the previous line had none
                if out and out[-1].endswith("\n") and lines[i - 1][:1] in "+ ":
                    out[-1] = out[-1][:-1]
                i += 1
                continue
            if tag in (" ", "-"):
                if position >= len(old) or _strip_newline(old[position]) != _strip_newline(body):
                    raise PatchError(f"context mismatch at old line {position + 1}")
                if tag == " ":
                    out.append(old[position])
                position += 1
            elif tag == "+":
                out.append(body)
            else:
                break
            i += 1
    out.extend(old[position:])
    return "".join(out)


def split_keepends(text: str) -> list[str]:
    """Lines ending at ``\n`` only (``str.splitlines`` also splits at ``\r``, ``\v``, ``\f``,
    U+2028 … which are ordinary characters inside a diff's lines)."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _strip_newline(line: str) -> str:
    return line[:-1] if line.endswith("\n") else line
