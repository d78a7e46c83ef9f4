"""Same-length masks: the one way crowdcode rewrites a secret.

A masked span keeps its length in UTF-16 code units (a character outside the BMP becomes two mask
characters), so that edit offsets recorded after it (UTF-16, as VS Code and LSP count) still
point at the same places, viewport lines keep their width and terminal screens their columns.
Line breaks inside a span are kept, so line numbers do not move either.
"""

from __future__ import annotations

from collections.abc import Iterable

MASK = "*"


def mask_char(char: str) -> str:
    if char in "\r\n":
        return char
    return MASK * (2 if ord(char) > 0xFFFF else 1)


def mask_spans(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """``text`` with every ``[start, end)`` span (Python indices) masked."""
    spans = sorted(spans)
    if not spans:
        return text
    out = []
    position = 0
    for start, end in spans:
        start = max(start, position)
        if end <= start:
            continue
        out.append(text[position:start])
        out.append("".join(mask_char(c) for c in text[start:end]))
        position = end
    out.append(text[position:])
    return "".join(out)


def mask_all(text: str) -> str:
    """Mask everything but line breaks (a secret file's content)."""
    return "".join(mask_char(c) for c in text)
