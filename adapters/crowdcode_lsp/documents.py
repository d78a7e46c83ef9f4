"""The documents a client has open, each kept as a :class:`crowdcode_sdk.positions.Document`.

The shim keeps its own copy of every open document (not pygls's workspace) because converting a
client's positions to the schema's UTF-16 offsets needs the text before each change, and because
``Document`` edits in time proportional to the edited line, where pygls re-joins the whole text.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pygls.uris import to_fs_path, uri_scheme

from crowdcode_sdk.positions import Document, Encoding, PositionError
from crowdcode_sdk.schema import Position, TextChange


@dataclass
class OpenDocument:
    uri: str
    path: Path | None
    """Absolute path for ``file:`` URIs; ``None`` for untitled or virtual documents, which are
    followed (for positions) but never recorded."""
    document: Document
    version: int | None = None
    saving: bool = False
    """Between willSave and didSave: changes then come from format-on-save."""
    out_of_sync: str | None = None
    """Why this copy can no longer be trusted (a change the server could not apply); edits are not
    recorded until the client opens the document again."""

    def offset(self, line: int, character: int, encoding: Encoding) -> int:
        return self.document.offset_at(line, character, encoding)

    def position16(self, line: int, character: int, encoding: Encoding) -> Position:
        """A client position (in the negotiated encoding) in the schema's UTF-16 units; a line
        past the end raises, a character past the end of its line means the line's end."""
        return self.document.position_at(self.document.offset_at(line, character, encoding), Encoding.UTF16)

    def apply_range(self, start: tuple[int, int], end: tuple[int, int], text: str, encoding: Encoding) -> TextChange:
        """Apply an incremental change; raise :class:`PositionError` when its range is outside."""
        first = self.document.offset_at(*start, encoding)
        last = self.document.offset_at(*end, encoding)
        if last < first:
            raise PositionError(f"range end {end} before start {start}")
        return self.document.replace(first, last, text)

    def apply_full(self, text: str) -> TextChange | None:
        """Apply a whole-text change as the smallest replacement; ``None`` when nothing changed."""
        old = self.document.text
        if old == text:
            return None
        prefix = _common_prefix(old, text)
        suffix = _common_prefix(old[prefix:][::-1], text[prefix:][::-1])
        return self.document.replace(prefix, len(old) - suffix, text[prefix : len(text) - suffix])


def file_path(uri: str) -> Path | None:
    """The absolute path of a ``file:`` URI, else ``None``."""
    if uri_scheme(uri) != "file":
        return None
    path = to_fs_path(uri)
    return Path(path).absolute() if path else None


def _common_prefix(a: str, b: str) -> int:
    """Length of the common prefix, by bisection on slices (fast in C, even for megabytes)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        mid = (low + high + 1) // 2
        if a[:mid] == b[:mid]:
            low = mid
        else:
            high = mid - 1
    return low


class Documents:
    """Open documents by URI."""

    def __init__(self) -> None:
        self._open: dict[str, OpenDocument] = {}

    def open(self, uri: str, text: str, version: int | None) -> OpenDocument:
        doc = OpenDocument(uri, file_path(uri), Document(text), version)
        self._open[uri] = doc
        return doc

    def get(self, uri: str) -> OpenDocument | None:
        return self._open.get(uri)

    def close(self, uri: str) -> OpenDocument | None:
        return self._open.pop(uri, None)

    def __iter__(self) -> Iterator[OpenDocument]:
        """A snapshot: callers may open or close documents while iterating."""
        return iter(list(self._open.values()))

    def __len__(self) -> int:
        return len(self._open)
