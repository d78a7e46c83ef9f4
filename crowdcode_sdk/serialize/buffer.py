"""A file's tracked text, edited at UTF-16 offsets, fast for the serializer's access pattern.

The serializer applies every recorded keystroke and asks for line numbers around it. Plain
``str`` operations (slicing, ``count``, ``isascii``) run in C at memory speed, so for source
files they beat a line list maintained in Python; UTF-16 offsets are converted only when the
text is not ASCII (see :func:`crowdcode_sdk.positions.index_from_units`).
"""

from __future__ import annotations

from ..positions import Encoding, PositionError, index_from_units


class TextBuffer:
    __slots__ = ("_ascii", "text")

    def __init__(self, text: str = "") -> None:
        self.text = text
        self._ascii = text.isascii()

    def index(self, offset16: int) -> int:
        """Code point index of a UTF-16 offset (a split surrogate pair rounds down)."""
        if self._ascii:
            if not 0 <= offset16 <= len(self.text):
                raise PositionError(f"offset {offset16} outside 0..{len(self.text)}")
            return offset16
        return index_from_units(self.text, offset16, Encoding.UTF16)

    def replace(self, offset16: int, length16: int, new: str) -> tuple[int, int]:
        """Apply a schema edit; return the 0-based sed lines (split at ``\\n``) where the
        replaced range started and ended before the edit."""
        start = self.index(offset16)
        end = self.index(offset16 + length16) if length16 else start
        text = self.text
        first = text.count("\n", 0, start)
        last = first + text.count("\n", start, end)
        self.text = text[:start] + new + text[end:]
        if self._ascii and not new.isascii():
            self._ascii = False
        elif not self._ascii and end > start:
            self._ascii = self.text.isascii()
        return first, last
