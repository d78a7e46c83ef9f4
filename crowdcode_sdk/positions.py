"""Text positions and the conversions between their units.

The schema counts in UTF-16 code units (as VS Code and LSP do); Python strings count code points;
Neovim and LSP's utf-8 encoding count UTF-8 bytes. Adapters must convert through these helpers so
that no unit is ever mixed silently. Lines end at ``\\r\\n``, ``\\n`` or ``\\r`` (LSP's rule).

:class:`Document` keeps a document's text as lines so that an adapter can apply incremental
changes and convert positions in time proportional to the edited line, not the document.
"""

from __future__ import annotations

import bisect
import enum
import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .errors import CrowdcodeError
from .schema import ContentFacts, LineEnding, Position, TextChange

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class Encoding(enum.StrEnum):
    """Units of a character offset (LSP's ``PositionEncodingKind``)."""

    UTF8 = "utf-8"
    UTF16 = "utf-16"
    UTF32 = "utf-32"


class PositionError(CrowdcodeError, ValueError):
    """A position or offset lies outside the document."""


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units: one per code point, two for non-BMP."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def unit_len(text: str, encoding: Encoding) -> int:
    if encoding is Encoding.UTF32:
        return len(text)
    if encoding is Encoding.UTF16:
        return utf16_len(text)
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def index_from_units(text: str, units: int, encoding: Encoding) -> int:
    """Code point index of the position ``units`` code units into ``text``.

    A position inside a character (half of a surrogate pair, the middle of a UTF-8 sequence) is
    rounded down to the character's start, as LSP asks of servers. Past the end raises.
    """
    if units < 0:
        raise PositionError(f"negative offset {units}")
    if encoding is Encoding.UTF32 or text.isascii():
        if units > len(text):
            raise PositionError(f"offset {units} past the end ({len(text)})")
        return units
    if encoding is Encoding.UTF16:
        encoded, width = text.encode("utf-16-le"), 2
    else:
        encoded, width = text.encode("utf-8"), 1
    if units * width > len(encoded):
        raise PositionError(f"offset {units} past the end ({len(encoded) // width})")
    prefix = encoded[: units * width]
    return len(prefix.decode("utf-16-le" if width == 2 else "utf-8", errors="ignore"))


def units_from_index(text: str, index: int, encoding: Encoding) -> int:
    """The length, in ``encoding`` units, of ``text[:index]``."""
    if not 0 <= index <= len(text):
        raise PositionError(f"index {index} outside 0..{len(text)}")
    return unit_len(text[:index], encoding)


def convert_offset(text: str, offset: int, source: Encoding, target: Encoding) -> int:
    """Convert an offset into ``text`` between units (e.g. UTF-8 bytes to UTF-16 code units)."""
    return units_from_index(text, index_from_units(text, offset, source), target)


def split_lines(text: str) -> list[str]:
    """Lines with their terminators; the last entry is the (possibly empty) unterminated tail."""
    lines: list[str] = []
    start = 0
    for match in _LINE_BREAK.finditer(text):
        lines.append(text[start : match.end()])
        start = match.end()
    lines.append(text[start:])
    return lines


def line_ending(text: str) -> LineEnding | None:
    """The line break ``text`` uses: ``"lf"``, ``"crlf"``, ``"cr"``, ``"mixed"``, or ``None``
    when it has none. Counting in C keeps this cheap enough for every save of a large file."""
    crlf = text.count("\r\n")
    lf = text.count("\n") - crlf
    cr = text.count("\r") - crlf
    kinds = [kind for kind, count in ((LineEnding.LF, lf), (LineEnding.CRLF, crlf), (LineEnding.CR, cr)) if count]
    if not kinds:
        return None
    return kinds[0] if len(kinds) == 1 else LineEnding.MIXED


def text_sha256(text: str) -> str:
    """SHA-256 of ``text`` as the UTF-8 bytes a file holds."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def final_break_variant(text: str) -> tuple[str, TextChange]:
    """``text`` as an editor may write it when it adds or drops the final line break on write, and
    the edit that makes it: with its final line break dropped, or with one added (the line break
    the text uses). Neovim adds one for 'fixeol' where its LSP client's document lacks it, and
    writes zero bytes for an emptied buffer its LSP client sends as ``"\\n"``."""
    length = utf16_len(text)
    for brk in ("\r\n", "\n", "\r"):
        if text.endswith(brk):
            return text[: -len(brk)], TextChange(range_offset=length - len(brk), range_length=len(brk), text="")
    brk = {LineEnding.CRLF: "\r\n", LineEnding.CR: "\r"}.get(line_ending(text) or LineEnding.LF, "\n")
    return text + brk, TextChange(range_offset=length, range_length=0, text=brk)


BOM = "\ufeff"


@dataclass(frozen=True)
class FileForm:
    """What an editor writes around a document's lines that is not in its text: editors keep these
    as options of the buffer, not as characters of it, so an adapter that tracks the text needs
    them to record the file as written.

    ``empty``: the document has no lines (a file read empty, or every line deleted), which an
    editor may show as one empty line but writes as zero bytes. ``bom``: a byte order mark before
    the text. ``noeol``: no line break after the last line.
    """

    empty: bool = False
    bom: bool = False
    noeol: bool = False

    @property
    def plain(self) -> bool:
        """The file is the document itself, after any byte order mark: a change of one is the
        same change of the other, shifted past the mark."""
        return not (self.empty or self.noeol)

    def file_text(self, document: str, line_break: str) -> str:
        """The file written for ``document``, whose lines each end in ``line_break``."""
        if self.noeol and document.endswith(line_break):
            document = document[: -len(line_break)]
        return (BOM if self.bom else "") + ("" if self.empty else document)


EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
"""The hash of an empty file: a ``file_change`` with this content and no diff created an empty file."""


def content_facts(text: str, sha256: str | None = None) -> ContentFacts:
    """The evidence recorded of a file's content (``sha256`` when the caller hashed the bytes)."""
    return ContentFacts(
        sha256=sha256 or text_sha256(text),
        eol=line_ending(text),
        final_newline=text.endswith(("\n", "\r")),
    )


def apply_change(text: str, change: TextChange) -> str:
    """Apply one schema edit (UTF-16 units against ``text``) and return the new text."""
    start = index_from_units(text, change.range_offset, Encoding.UTF16)
    end = index_from_units(text, change.range_offset + change.range_length, Encoding.UTF16)
    return text[:start] + change.text + text[end:]


def apply_changes(text: str, changes: Iterable[TextChange]) -> str:
    """Replay edits in recorded order: each is relative to the result of the previous one."""
    for change in changes:
        text = apply_change(text, change)
    return text


def touches_span(start: int, end: int, changes: Iterable[TextChange]) -> bool:
    """Whether ``changes``, applied in order, replace any of the UTF-16 span ``[start, end)`` of
    the text before them, following the span as earlier changes move it.

    An empty span (text deleted there) or an empty change (an insertion) counts at its edges too:
    a change written right against the span may be continuing it. The reload rule asks this of
    the person's unsaved text: a change that touches it is the person's, however it ends.
    """
    for change in changes:
        low, high = change.range_offset, change.range_offset + change.range_length
        if start == end or low == high:
            if low <= end and start <= high:
                return True
        elif low < end and start < high:
            return True
        if high <= start:
            shift = utf16_len(change.text) - change.range_length
            start, end = start + shift, end + shift
    return False


class Document:
    """A text document that adapters edit incrementally and query in any unit.

    Indices given to or returned by :meth:`replace` are code points; :meth:`offset_at` and
    :meth:`position_at` translate LSP/Neovim-style positions. Every replacement returns the
    schema's :class:`TextChange` (UTF-16, against the text before it).
    """

    def __init__(self, text: str = "") -> None:
        self._lines = split_lines(text)
        self._length = len(text)
        # Where each line starts, in code points and in UTF-16 units. Only a prefix is kept valid:
        # an edit drops the entries after the line it touched, and they are extended again only
        # as far as a query needs, so that typing costs time proportional to the edited line, not
        # to the document.
        self._starts: list[int] = [0]
        self._starts16: list[int] = [0]

    @property
    def text(self) -> str:
        return "".join(self._lines)

    @property
    def line_count(self) -> int:
        return len(self._lines)

    def line(self, number: int, *, keep_end: bool = False) -> str:
        """Line ``number`` (0-based), without its terminator unless ``keep_end``."""
        text = self._lines[number]
        return text if keep_end else text.rstrip("\r\n")

    def __len__(self) -> int:
        return self._length

    @staticmethod
    def _extend(starts: list[int], lines: list[str], line: int, measure: Callable[[str], int]) -> None:
        """Make ``starts`` valid through ``line``."""
        total = starts[-1]
        for i in range(len(starts) - 1, line):
            total += measure(lines[i])
            starts.append(total)

    def _start(self, line: int) -> int:
        """Code point index where ``line`` starts."""
        if line >= len(self._starts):
            self._extend(self._starts, self._lines, line, len)
        return self._starts[line]

    def _start16(self, line: int) -> int:
        if line >= len(self._starts16):
            self._extend(self._starts16, self._lines, line, utf16_len)
        return self._starts16[line]

    def _line_of(self, value: int, starts: list[int], measure: Callable[[str], int]) -> int:
        """The line holding offset ``value`` (units of ``starts``), extending ``starts`` in steps."""
        last, step = len(self._lines) - 1, 16
        while starts[-1] <= value and len(starts) <= last:
            self._extend(starts, self._lines, min(last, len(starts) - 1 + step), measure)
            step *= 2
        return bisect.bisect_right(starts, value) - 1

    def offset_at(self, line: int, character: int, encoding: Encoding = Encoding.UTF16) -> int:
        """Code point index of a 0-based line/character position.

        A character past the end of its line means the line's end (LSP's rule); a line past the
        end of the document raises.
        """
        if line < 0 or character < 0:
            raise PositionError(f"negative position {line}:{character}")
        if line >= len(self._lines):
            if line == len(self._lines) and character == 0:
                return len(self)
            raise PositionError(f"line {line} past the end ({len(self._lines)} lines)")
        content = self.line(line)
        if character >= unit_len(content, encoding):
            return self._start(line) + len(content)
        return self._start(line) + index_from_units(content, character, encoding)

    def position_at(self, index: int, encoding: Encoding = Encoding.UTF16) -> Position:
        if not 0 <= index <= len(self):
            raise PositionError(f"index {index} outside 0..{len(self)}")
        line = self._line_of(index, self._starts, len)
        column = index - self._starts[line]
        return Position(line=line, character=unit_len(self._lines[line][:column], encoding))

    def utf16_offset(self, index: int) -> int:
        """UTF-16 offset of a code point index: the schema's ``rangeOffset`` unit."""
        position = self.position_at(index, Encoding.UTF16)
        return self._start16(position.line) + position.character

    def index_of_utf16(self, offset: int) -> int:
        line = max(self._line_of(offset, self._starts16, utf16_len), 0)
        return self._start(line) + index_from_units(self._lines[line], offset - self._starts16[line], Encoding.UTF16)

    def slice(self, start: int, end: int) -> str:
        """Text between two code point indices, without joining the whole document."""
        first = self.position_at(start, Encoding.UTF32)
        last = self.position_at(end, Encoding.UTF32)
        if first.line == last.line:
            return self._lines[first.line][first.character : last.character]
        parts = [self._lines[first.line][first.character :]]
        parts.extend(self._lines[first.line + 1 : last.line])
        parts.append(self._lines[last.line][: last.character])
        return "".join(parts)

    def replace(self, start: int, end: int, text: str) -> TextChange:
        """Replace code points ``start:end`` with ``text``; return the schema change."""
        if not 0 <= start <= end <= len(self):
            raise PositionError(f"range {start}..{end} outside 0..{len(self)}")
        change = TextChange(
            range_offset=self.utf16_offset(start),
            range_length=utf16_len(self.slice(start, end)),
            text=text,
        )
        first = self.position_at(start, Encoding.UTF32)
        last = self.position_at(end, Encoding.UTF32)
        # Re-split from the line before the first touched one through the line after the last
        # one, so that a "\r" and a "\n" that the edit brings together become one line break.
        begin = max(first.line - 1, 0)
        stop = min(last.line + 2, len(self._lines))
        joined = "".join(self._lines[begin:stop])
        base = self._start(begin)
        cut_start = start - base
        cut_end = end - base
        new_lines = split_lines(joined[:cut_start] + text + joined[cut_end:])
        if stop < len(self._lines) and new_lines[-1] == "":
            new_lines.pop()  # the block ended with a line break, not at the document's tail
        self._lines[begin:stop] = new_lines
        if not self._lines:
            self._lines = [""]
        self._length += len(text) - (end - start)
        # Lines up to ``begin`` did not move; the starts of later ones are recomputed when needed.
        del self._starts[begin + 1 :]
        del self._starts16[begin + 1 :]
        return change

    def apply(self, change: TextChange) -> None:
        """Apply a schema change (UTF-16 units)."""
        start = self.index_of_utf16(change.range_offset)
        end = self.index_of_utf16(change.range_offset + change.range_length)
        self.replace(start, end, change.text)

    def replace_range(
        self, start: Position, end: Position, text: str, encoding: Encoding = Encoding.UTF16
    ) -> TextChange:
        """Apply an LSP-style range edit given in ``encoding`` units."""
        return self.replace(
            self.offset_at(start.line, start.character, encoding),
            self.offset_at(end.line, end.character, encoding),
            text,
        )
