"""Shell commands that show and edit files exactly: ``cat -n`` views and GNU ``sed -i`` edits.

The reference serializer's edits were not executable (multi-line payloads without continuation
backslashes, ``(N+1)i\\`` appends that sed ignores, unquoted paths, CRLF crashes). Here every
command is built from a model of GNU sed's line semantics and checked against real bash + sed in
the tests:

* sed sees lines split at ``\\n`` only; a ``\\r`` is part of a line's text and is kept.
* One edit block becomes one of four forms, always in the multi-line text form
  (``Ni\\`` / ``$a\\`` / ``S,Ec\\`` then one text line per payload line, each but the last ending
  in a backslash) or ``S,Ed``. In the text, backslashes are doubled (GNU sed would otherwise read
  ``\\t`` as a tab) and a single quote becomes ``'"'"'``.
* ``a``/``i``/``c`` always write a newline after their text, so when the block reaches the end of
  a file whose new text must not end in a newline, ``sed -z -i '$s/\\n$//'`` follows.
* sed runs no cycle on an empty file, so a file that was empty before is written with
  ``printf '%s' '…' > FILE`` instead.
* Linux limits one argument of a program to 128 KiB (``MAX_ARG_STRLEN``), so a longer script
  (a ``:%s`` over a big file) goes to ``sed -f -`` on its stdin from bash's builtin ``printf``,
  which no such limit applies to.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

STRIP_FINAL_NEWLINE = "sed -z -i '$s/\\n$//'"
MAX_ARGUMENT = 100_000
"""UTF-8 bytes of a sed script passed as an argument (under the kernel's 131,072, quoting
included); a longer script goes on stdin."""


def sed_lines(text: str) -> tuple[list[str], bool]:
    """Lines as sed reads them (split at ``\\n``) and whether the text ends with a newline."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
        return lines, True
    return lines, False


def quote(text: str) -> str:
    """Single-quote for bash: every character literal, ``'`` written as ``'"'"'``."""
    return "'" + text.replace("'", "'\"'\"'") + "'"


def path_arg(path: str) -> str:
    """A file path as a shell word (quoted only when needed, like ``shlex.quote``); ``./`` before
    a leading dash so that no command takes it for an option; a leading ``~/`` (files outside the
    workspace are recorded home-relative) stays unquoted so that bash expands it."""
    if path.startswith("~/"):
        return "~/" + shlex.quote(path[2:])
    return shlex.quote(f"./{path}" if path.startswith("-") else path)


def cat_n(text: str, start: int = 1, end: int | None = None) -> str:
    """What ``cat -n FILE | sed -n 'S,Ep'`` prints: GNU cat's ``%6d<TAB>`` numbering."""
    lines, eol = sed_lines(text)
    last = len(lines) if end is None else min(end, len(lines))
    out = [f"{n:6d}\t{lines[n - 1]}\n" for n in range(max(start, 1), last + 1)]
    if out and last == len(lines) and not eol:
        out[-1] = out[-1][:-1]
    return "".join(out)


def view_command(path: str, start: int | None = None, end: int | None = None) -> str:
    """``cat -n FILE`` or the viewport slice ``cat -n FILE | sed -n 'S,Ep'``."""
    if start is None:
        return f"cat -n {path_arg(path)}"
    return f"cat -n {path_arg(path)} | sed -n '{start},{end}p'"


@dataclass(frozen=True)
class EditBlock:
    """The one contiguous line block in which two versions of a file differ."""

    first: int
    """0-based index of the first differing line (equal in both versions)."""
    before_end: int
    """End (exclusive) of the block in the old lines."""
    after_end: int
    """End (exclusive) of the block in the new lines."""
    before_lines: int
    after_lines: list[str]
    strip_newline: bool
    """The block reaches the file's end and the new text has no final newline."""


def diff_block(before: str, after: str) -> EditBlock | None:
    """The block from the first to the last differing line; ``None`` when the texts are equal.

    Found on the strings (C-speed slice compares) and split into lines only inside the block, so
    a small edit to a big file costs little. A final line that gains or loses its newline counts
    as changed.
    """
    if before == after:
        return None
    start = _common_prefix(before, after)
    start = before.rfind("\n", 0, start) + 1  # back to the start of the first differing line
    tail = _common_suffix(before, after, min(len(before), len(after)) - start)
    if tail:
        # The common tail must be whole lines: begin it after a newline inside it.
        newline = before.find("\n", len(before) - tail)
        tail = 0 if newline < 0 else len(before) - newline - 1
    old, _ = sed_lines(before[start : len(before) - tail])
    new, new_eol = sed_lines(after[start : len(after) - tail])
    first = before.count("\n", 0, start)
    total = before.count("\n") + (0 if before.endswith("\n") or not before else 1)
    return EditBlock(
        first=first,
        before_end=first + len(old),
        after_end=first + len(new),
        before_lines=total,
        after_lines=new,
        strip_newline=tail == 0 and not new_eol and bool(new),
    )


def _common_prefix(a: str, b: str) -> int:
    """Length of the longest common prefix, by binary search over C-level slice compares."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[low:middle] == b[low:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _common_suffix(a: str, b: str, limit: int) -> int:
    """Length (at most ``limit``) of the longest common suffix."""
    low, high = 0, max(limit, 0)
    la, lb = len(a), len(b)
    while low < high:
        middle = (low + high + 1) // 2
        if a[la - middle : la - low] == b[lb - middle : lb - low]:
            low = middle
        else:
            high = middle - 1
    return low


def _text_arg(lines: list[str]) -> str:
    """The text of an a/i/c command: one line each, continued with a trailing backslash."""
    return "\\\n".join(line.replace("\\", "\\\\") for line in lines)


def sed_script(block: EditBlock) -> str:
    """The sed script (unquoted) of one block; the caller has ruled out an empty old file."""
    start, end = block.first + 1, block.before_end
    span = f"{start}" if start == end else f"{start},{end}"
    if not block.after_lines:
        return f"{span}d"
    text = _text_arg(block.after_lines)
    if start > end:  # pure insertion
        if block.first >= block.before_lines:
            return f"$a\\\n{text}"
        return f"{start}i\\\n{text}"
    return f"{span}c\\\n{text}"


def edit_command(path: str, before: str, after: str) -> tuple[str, EditBlock] | None:
    """A command that turns ``before`` into ``after`` in ``path`` exactly, and its block."""
    block = diff_block(before, after)
    if block is None:
        return None
    target = path_arg(path)
    if not before:
        command = f"printf '%s' {quote(after)} > {target}"
        if "/" in path.strip("/"):
            command = f"mkdir -p -- {path_arg(path.rsplit('/', 1)[0])} && {command}"
        return command, block
    script = sed_script(block)
    if len(script.encode("utf-8")) <= MAX_ARGUMENT:
        command = f"sed -i {quote(script)} {target}"
    else:
        command = f"printf '%s\\n' {quote(script)} | sed -i -f - {target}"
    if block.strip_newline:
        command += f" && {STRIP_FINAL_NEWLINE} {target}"
    return command, block


def line_count(text: str) -> int:
    return len(sed_lines(text)[0])
